"""``--provider openvino`` without ONNX Runtime's OpenVINO build: the OpenVINO runtime itself reads
the same ONNX file (the ``openvino`` extra: ``pip install 'vidclass[openvino]'``).

:class:`OpenVinoSession` offers the few calls :class:`vidclass.runtimes.Session` makes of an
``onnxruntime.InferenceSession`` (inputs, outputs, metadata, run), so everything above the session
does not know which runtime answers. Only :mod:`vidclass.runtimes` imports this module.

Precision: OpenVINO's CPU plugin computes in bfloat16 by default on CPUs with AMX or AVX512-BF16
(this one has both); ``fp32`` asks for float32 explicitly (``INFERENCE_PRECISION_HINT``). An int8
model (``scripts/quantize_i3d.py``) runs its QDQ convolutions in int8 whatever the hint.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:
    import openvino as ov
except ImportError:  # the optional extra is not installed
    ov = None

log = logging.getLogger("vidclass")

#: vidclass precision name -> OpenVINO's INFERENCE_PRECISION_HINT.
HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
#: How OpenVINO's CPU threads share the work. vidclass never has the cores to itself: the decode
#: thread (and, with ``--workers``, decoding processes) runs beside the model. OpenVINO's defaults pin
#: each inference thread to a core (``ENABLE_CPU_PINNING``) and split each layer into equal fixed
#: parts (``TBB_PARTITIONER`` STATIC): when another thread takes a core, the pinned thread cannot move
#: to the idle one and the layer waits for its part. Unpinned, with TBB's AUTO partitioner, the other
#: thread takes over the rest. Measured (stream mode, OpenVINO fp32, 8 s 640x360 video, 2-core AMD
#: EPYC with AVX2 shared with other jobs, load average 4-5.5, 5 runs interleaved, medians): defaults
#: 15.6 s wall, 11.8 CPU s; unpinned 12.9 s, 11.1 CPU s; unpinned and AUTO 11.3 s, 10.6 CPU s.
CPU_PINNING = False
TBB_PARTITIONER = "AUTO"


def available() -> bool:
    return ov is not None


def cpu_supports(precision: str) -> bool:
    """Whether the CPU plugin computes natively in ``precision`` (``bf16``, ``fp16``, ``int8``)."""
    if ov is None:
        return False
    wanted = {"bf16": "BF16", "fp16": "FP16", "int8": "INT8", "fp32": "FP32"}[precision]
    return wanted in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@functools.cache
def _core() -> Any:
    """One OpenVINO Core per process: a new Core for every query crashed the process now and then
    (SIGSEGV or SIGABRT inside get_property, twice in about twenty test runs here)."""
    return ov.Core()


@dataclass(frozen=True)
class _Port:
    """What ``InferenceSession.get_inputs()`` items offer: a name and a shape with str for dynamic axes."""

    name: str
    shape: list[int | str]


@dataclass(frozen=True)
class _Meta:
    custom_metadata_map: dict[str, str]


class OpenVinoSession:
    """One compiled OpenVINO model on the CPU, with the interface vidclass uses of ONNX Runtime's."""

    def __init__(self, path: Path, precision: str, threads: int | None = None) -> None:
        if ov is None:
            raise ImportError("openvino is not installed (pip install 'vidclass[openvino]')")
        core = _core()
        with _stderr_captured() as said:
            try:
                model = core.read_model(str(path))
            except Exception as e:  # noqa: BLE001 -- OpenVINO raises RuntimeError and its own types
                raise LoadError(load_cause(e, said)) from e
        self._meta = _Meta(_metadata(model))
        self._inputs = [_Port(p.get_any_name(), _shape(p.get_partial_shape())) for p in model.inputs]
        self._outputs = [_Port(p.get_any_name(), _shape(p.get_partial_shape())) for p in model.outputs]
        config: dict[str, str | int | bool] = {
            # One request at a time, all cores on it: the pipeline already overlaps decoding.
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": HINTS.get(precision, "f32"),
            "ENABLE_CPU_PINNING": CPU_PINNING,
        }
        if "TBB_PARTITIONER" in core.get_property("CPU", "SUPPORTED_PROPERTIES"):  # newer releases; older keep theirs
            config["TBB_PARTITIONER"] = TBB_PARTITIONER
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        with _stderr_captured() as said:
            try:
                self._compiled = core.compile_model(model, "CPU", config)
            except Exception as e:  # noqa: BLE001 -- as above
                raise LoadError(load_cause(e, said)) from e
        self._request = self._compiled.create_infer_request()
        self.precision = precision

    def get_inputs(self) -> list[_Port]:
        return self._inputs

    def get_outputs(self) -> list[_Port]:
        return self._outputs

    def get_modelmeta(self) -> _Meta:
        return self._meta

    def get_providers(self) -> list[str]:
        return ["OpenVINO"]

    def run(self, output_names: list[str] | None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        # The request owns the output buffers and reuses them on the next call: hand out copies.
        if len(feed) == 1:
            (array,) = feed.values()
            result = self._request.infer({0: np.ascontiguousarray(array, dtype=np.float32)})
            return [np.array(result[0], copy=True)]
        # Several inputs (the streaming graph: frames, states, flush), by name, in their own dtypes.
        result = self._request.infer({name: np.ascontiguousarray(array) for name, array in feed.items()})
        by_name = {port.get_any_name(): result[port] for port in self._compiled.outputs}
        return [np.array(by_name[name], copy=True) for name in (output_names or [p.name for p in self._outputs])]


class LoadError(RuntimeError):
    """OpenVINO cannot read or compile the model; the message is the cause, in one line."""


# Lines of OpenVINO's exception text that say where in its sources it was raised, not why.
_WHERE = re.compile(r"^(Exception from src/\S*:\d+:|Check '.*' failed at \S*:\d+:|Summary:)$")


def load_cause(error: BaseException, said: list[str]) -> str:
    """The cause in OpenVINO's multi-line exception, as one line.

    Its message reads "Exception from src/inference/src/cpp/core.cpp:84:", then more source
    locations, then the cause ("Model can't be parsed", "No conversion rule found for operations:
    X"): the locations go, the rest is joined. When nothing is left, the last line OpenVINO wrote to
    stderr (``said``, captured by :func:`_stderr_captured`) stands in.
    """
    lines = [line.strip() for line in str(error).splitlines()]
    kept = [line.removeprefix("-- ") for line in lines if line and not _WHERE.match(line)]
    if kept:
        return " ".join(kept)
    noise = [line.strip() for line in said if line.strip()]
    return noise[-1] if noise else type(error).__name__


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """File descriptor 2 into a temporary file for the duration; its lines in the list yielded, after.

    OpenVINO tries each of its frontends on a file it cannot read, and the TensorFlow one's protobuf
    and absl write straight to the process's stderr ("Error parsing text-format tensorflow.GraphDef",
    quoting the file's bytes) whatever Python does with ``sys.stderr``. What they said is kept for
    :func:`load_cause` and for ``--verbose``; the user sees one line. Any thread writing to stderr
    meanwhile is captured too: the model loads before vidclass starts any thread of its own.
    """
    said: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep clean
        yield said
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield said
        finally:
            with contextlib.suppress(ValueError, OSError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            said.extend(sink.read().decode("utf-8", "replace").splitlines())
            for line in said:
                log.debug("OpenVINO: %s", line)


def _metadata(model: object) -> dict[str, str]:
    """ONNX ``metadata_props`` as OpenVINO's ONNX reader keeps them (``rt_info['framework']``)."""
    if not model.has_rt_info(["framework"]):  # type: ignore[attr-defined]
        return {}
    framework = model.get_rt_info()["framework"]  # type: ignore[attr-defined]
    framework = framework.astype(dict) if hasattr(framework, "astype") else framework
    return {str(key): _text(value) for key, value in dict(framework).items()}


def _text(value: object) -> str:
    astype = getattr(value, "astype", None)
    return str(astype(str)) if callable(astype) else str(value)


def _shape(partial: object) -> list[int | str]:
    dims: list[int | str] = []
    for i, dim in enumerate(partial):  # type: ignore[attr-defined]
        dims.append(dim.get_length() if dim.is_static else f"d{i}")
    return dims
