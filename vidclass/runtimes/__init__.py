"""Finding the model, choosing an execution provider, and running ONNX Runtime.

This is the only module that imports onnxruntime.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..convert.stream_runtime import STREAMING_KEY, StreamSpec
from ..errors import ModelError, ModelNotFoundError, SpecError, UsageError
from ..results import ModelInfo
from ..settings import Precision, Provider
from ..spec import ModelSpec
from ..store import file_sha256, resolve_model

log = logging.getLogger("vidclass")

_ORT_NAMES = {
    Provider.cpu: "CPUExecutionProvider",
    Provider.cuda: "CUDAExecutionProvider",
    Provider.tensorrt: "TensorrtExecutionProvider",
    Provider.openvino: "OpenVINOExecutionProvider",
    Provider.coreml: "CoreMLExecutionProvider",
    Provider.directml: "DmlExecutionProvider",
}
_SHORT_NAMES = {ort_name: p.value for p, ort_name in _ORT_NAMES.items()}
#: ``auto`` tries these in order and keeps the first that starts.
AUTO_ORDER = (Provider.tensorrt, Provider.cuda, Provider.coreml, Provider.directml, Provider.openvino)


#: What ``Precision.auto`` means with the OpenVINO runtime. bf16 is the OpenVINO CPU plugin's own
#: default on AMX/AVX512-BF16 CPUs; vidclass asks for it explicitly only where it was measured
#: (100 % top-1 agreement with fp32 on the shared clips, README "Performance") and fp32 elsewhere.
OPENVINO_AUTO_PRECISION = Precision.bf16


def available_providers() -> list[str]:
    """Short names of the providers this onnxruntime build offers."""
    return [_SHORT_NAMES[name] for name in ort.get_available_providers() if name in _SHORT_NAMES]


class Session:
    """One ONNX Runtime session over a vidclass model, with its spec read from the file."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        provider: Provider | str = Provider.auto,
        threads: int | None = None,
        precision: Precision | str = Precision.auto,
        memory_arena: bool = True,
    ) -> None:
        precision = Precision(precision)
        self.path = model_path(model, precision)
        options = _session_options(threads, memory_arena)
        self._session, self.provider = _open(self.path, Provider(provider), options, precision, threads)
        #: The arithmetic actually used ("fp32", "bf16", "int8", ...).
        self.precision = getattr(self._session, "precision", "int8" if precision is Precision.int8 else "fp32")
        meta = self._session.get_modelmeta().custom_metadata_map
        self.spec = ModelSpec.from_metadata(meta, origin=str(self.path))
        if STREAMING_KEY in meta:
            raise SpecError(
                f"{self.path}: this is a model's streaming form; give the one-pass model beside it "
                f"({self.path.name.replace('.stream.onnx', '.onnx')})"
            )
        self._check_graph()
        self.input_name = self._session.get_inputs()[0].name
        self._sha256: str | None = None

    def _check_graph(self) -> None:
        """The metadata must agree with the graph it describes (labels vs classes, layout vs shape)."""
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        origin = str(self.path)
        if len(inputs) != 1 or len(outputs) < 1:
            raise SpecError(f"{origin}: expected one input and an output, found {len(inputs)} and {len(outputs)}")
        shape = inputs[0].shape
        if len(shape) != 5:
            raise SpecError(f"{origin}: input has rank {len(shape)}, a video model takes 5 ({self.spec.input_layout})")
        expected = {"C": 3, "H": self.spec.crop_height, "W": self.spec.crop_width}
        for axis, size in zip(self.spec.input_layout, shape, strict=True):
            if axis in expected and isinstance(size, int) and size != expected[axis]:
                raise SpecError(
                    f"{origin}: input axis {axis} has size {size} but the metadata says {expected[axis]}"
                )
        out_shape = outputs[0].shape
        classes = out_shape[-1] if out_shape else None
        if len(out_shape) != 3 or (isinstance(classes, int) and classes != self.spec.num_classes):
            raise SpecError(
                f"{origin}: output shape {out_shape} does not fit {self.spec.num_classes} labels "
                "as [N, T', classes]"
            )

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            self.spec.name, self.spec.version, self.sha256, self.provider, str(self.path), self.precision
        )

    def run(self, clips: np.ndarray) -> np.ndarray:
        """``[N, ...]`` clips in the spec's layout -> per-time-step logits ``[N, T', classes]``."""
        try:
            (logits,) = self._session.run(None, {self.input_name: clips})[:1]
        except Exception as e:  # noqa: BLE001 -- onnxruntime's errors share no public base class
            raise ModelError(f"{self.path}: inference failed ({e})") from e
        return logits


class StreamSession:
    """The streaming form of a model (:func:`vidclass.store.streaming_companion`) on the provider and
    precision the one-pass session ended up with: one multi-input call per block, for
    :class:`vidclass.convert.stream_runtime.StreamingI3D`, which keeps the state (one per file)."""

    def __init__(self, path: Path, session: Session, threads: int | None = None,
                 precision: Precision | str = Precision.auto) -> None:
        self.path = path
        # The states' lengths change from call to call (the first call of each file, the flush), and
        # ONNX Runtime's arena keeps its largest blocks of every shape it has served: plain allocation.
        # Measured (scripts/bench.py's stream variant, ONNX Runtime CPU, 8 s 640x360 video, 2-core AMD
        # EPYC with AVX2, two runs each): peak RSS 811 and 814 MB without the arena, 1085 and 1097 MB
        # with it, for 6.2-6.5 s against 5.9-6.2 s of wall time.
        options = _session_options(threads, memory_arena=False)
        self._session, self.provider = _open(path, Provider(session.provider), options, Precision(precision), threads)
        meta = self._session.get_modelmeta().custom_metadata_map
        self.spec = ModelSpec.from_metadata(meta, origin=str(path))
        self.stream = StreamSpec.from_metadata(meta, origin=str(path))
        if self.spec != session.spec:
            raise SpecError(f"{path}: its metadata is not the one-pass model's ({session.path}): convert both again")
        self._names = [self.stream.logits, *(state.output for state in self.stream.states)]
        inputs = {port.name for port in self._session.get_inputs()}
        if inputs != {self.stream.video, self.stream.flush, *(state.input for state in self.stream.states)}:
            raise SpecError(f"{path}: the graph's inputs do not match its streaming metadata")

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """One call of the streaming graph: ``[logits, *new states]``."""
        try:
            return list(self._session.run(self._names, dict(feeds)))
        except Exception as e:  # noqa: BLE001 -- onnxruntime's errors share no public base class
            raise ModelError(f"{self.path}: inference failed ({_first_line(e)})") from e


def _session_options(threads: int | None, memory_arena: bool) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One model call at a time with all cores on it (intra-op); the decode thread overlaps it.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # ONNX Runtime's arena keeps its largest blocks for the next run: right for windows of one
    # length, but with inputs of varying length (dense chunks) it grew to 2.7 GB for 256 frames
    # where plain allocation peaks at 1.4 GB, at the same speed (README, Performance).
    options.enable_cpu_mem_arena = memory_arena
    if threads:
        options.intra_op_num_threads = threads
    return options


def model_path(model: str | os.PathLike[str] | None, precision: Precision | str = Precision.auto) -> Path:
    """The file a :class:`Session` over ``model`` at ``precision`` opens (found or provisioned by
    :func:`vidclass.store.resolve_model`; the int8 variant beside it for ``int8``)."""
    path = resolve_model(model)
    return int8_variant(path) if Precision(precision) is Precision.int8 else path


def stream_provider(provider: Provider | str, precision: Precision | str) -> Provider:
    """The provider the streaming form runs on, given what the user asked for.

    Only the automatic choice changes: where it would be the OpenVINO runtime computing in fp32 (a
    CPU without bf16, or ``--precision fp32``), stream mode takes ONNX Runtime's CPU provider. The
    OpenVINO CPU plugin keeps the buffers of the streaming graph's first call (64 frames and every
    state, about 0.7 GB) for the rest of the run, well above windows mode's peak, where ONNX Runtime
    frees them. Measured with ``vidclass predict`` on 640x360 videos, 2-core AMD EPYC with AVX2 and
    no bf16, medians of three (README, Performance): OpenVINO 1157 MB and 8.6 s on 8 s of video,
    1173 MB and 22.5 s on 30 s; ONNX Runtime 718 MB and 7.9 s, 775 MB and 27.0 s; windows mode on
    OpenVINO 865 MB and 11.5 s, 866 MB and 36.3 s. ``--provider openvino`` keeps OpenVINO's speed.
    With bf16 arithmetic OpenVINO stays the choice: that is where its speed is (4x on AMX).
    """
    provider, precision = Provider(provider), Precision(precision)
    if provider is not Provider.auto or precision not in (Precision.auto, Precision.fp32):
        return provider
    if not _auto_takes_openvino_runtime(ort.get_available_providers()):
        return provider  # an accelerator, or ONNX Runtime's own CPU provider, is the choice anyway
    if _openvino_arithmetic(precision) is not Precision.fp32:
        return provider
    log.debug(
        "stream mode on ONNX Runtime's CPU provider: OpenVINO would compute in fp32 here and hold "
        "about 0.4 GB more (--provider openvino runs it there)"
    )
    return Provider.cpu


def int8_variant(path: Path) -> Path:
    """The static int8 model made from ``path`` by ``scripts/quantize_i3d.py`` (``name.int8.onnx``)."""
    if path.name.endswith(".int8.onnx"):
        return path
    variant = path.with_name(path.stem + ".int8.onnx")
    if not variant.is_file():
        raise ModelNotFoundError(
            f"{variant}: no int8 model; make it with `python scripts/quantize_i3d.py` in a vidclass checkout"
        )
    return variant


def _openvino_runtime() -> bool:
    """The OpenVINO runtime itself (the ``openvino`` extra), used when onnxruntime has no OpenVINO EP."""
    from ..runtimes import openvino as openvino_runtime

    return openvino_runtime.available()


def _auto_takes_openvino_runtime(available: list[str]) -> bool:
    """Whether ``--provider auto`` runs the OpenVINO runtime itself: no accelerator provider (nor an
    OpenVINO one) in this onnxruntime, and the ``openvino`` extra installed."""
    return not any(_ORT_NAMES[p] in available for p in AUTO_ORDER) and _openvino_runtime()


def _openvino_arithmetic(precision: Precision) -> Precision:
    """The arithmetic the OpenVINO runtime computes in for ``precision``: ``auto`` is
    :data:`OPENVINO_AUTO_PRECISION` where the CPU has it, else fp32; an explicit bf16 or fp16 the CPU
    lacks is a usage error."""
    from ..runtimes import openvino as openvino_runtime

    wanted = OPENVINO_AUTO_PRECISION if precision is Precision.auto else precision
    if wanted is Precision.int8:
        wanted = Precision.fp32  # the QDQ nodes are int8; the rest (pools, head) in fp32
    if wanted in (Precision.bf16, Precision.fp16) and not openvino_runtime.cpu_supports(wanted.value):
        if precision is not Precision.auto:
            raise UsageError(f"--precision {wanted.value}: this CPU has no native {wanted.value} arithmetic")
        wanted = Precision.fp32
    return wanted


def _open_openvino(path: Path, precision: Precision, threads: int | None) -> tuple[object, str]:
    from ..runtimes import openvino as openvino_runtime

    wanted = _openvino_arithmetic(precision)
    try:
        session = openvino_runtime.OpenVinoSession(path, wanted.value, threads)
    except openvino_runtime.LoadError as e:  # its cause, in one line
        raise ModelError(f"{path}: OpenVINO cannot load the model ({e})") from e
    except Exception as e:  # noqa: BLE001 -- OpenVINO raises RuntimeError and its own types
        raise ModelError(f"{path}: OpenVINO cannot load the model ({openvino_runtime.load_cause(e, [])})") from e
    session.precision = "int8" if precision is Precision.int8 else wanted.value
    return session, Provider.openvino.value


def _open(
    path: Path,
    provider: Provider,
    options: ort.SessionOptions,
    precision: Precision = Precision.auto,
    threads: int | None = None,
) -> tuple[ort.InferenceSession, str]:
    available = ort.get_available_providers()
    ov_runtime = _ORT_NAMES[Provider.openvino] not in available and _openvino_runtime()
    if provider is Provider.openvino and ov_runtime:
        return _open_openvino(path, precision, threads)  # type: ignore[return-value]
    if precision in (Precision.bf16, Precision.fp16) and provider in (Provider.auto, Provider.cpu):
        if provider is Provider.auto and ov_runtime:
            return _open_openvino(path, precision, threads)  # type: ignore[return-value]
        raise UsageError(
            f"--precision {precision.value} needs a provider that computes in it: ONNX Runtime's CPU provider "
            "does not; install the openvino extra and use --provider openvino"
        )
    if provider is Provider.auto:
        candidates = [p for p in AUTO_ORDER if _ORT_NAMES[p] in available]
        if _auto_takes_openvino_runtime(available):
            # No accelerator in this onnxruntime, but the openvino extra is installed: on a CPU the
            # OpenVINO runtime is 1.5x (fp32) to 4x (bf16 on AMX) faster than ONNX Runtime's CPU
            # provider, with the same top-1 on every shared clip (README, Performance).
            return _open_openvino(path, precision, threads)  # type: ignore[return-value]
        candidates.append(Provider.cpu)
    else:
        if _ORT_NAMES[provider] not in available:
            if provider is Provider.openvino:
                raise UsageError(
                    "provider 'openvino' is not available: install the openvino extra "
                    "(pip install 'vidclass[openvino]') or an onnxruntime with OpenVINO"
                )
            raise UsageError(
                f"provider {provider.value!r} is not available in this onnxruntime "
                f"(available: {', '.join(available_providers())})"
            )
        candidates = [provider]
    last_error: Exception | None = None
    for candidate in candidates:
        try:
            session = ort.InferenceSession(_ort_model(path), options, providers=[_ORT_NAMES[candidate]])
        except Exception as e:  # noqa: BLE001 -- onnxruntime's errors share no public base class
            if candidate is Provider.cpu or provider is not Provider.auto:
                raise ModelError(f"{path}: cannot load the model ({_ort_cause(e)})") from e
            log.warning("provider %s failed to start (%s); trying the next", candidate.value, _first_line(e))
            last_error = e
            continue
        used = _SHORT_NAMES.get(session.get_providers()[0], session.get_providers()[0])
        if used != candidate.value:
            log.warning("provider %s did not start; running on %s", candidate.value, used)
        elif last_error is not None:
            log.warning("falling back to %s", used)
        return session, used
    raise ModelError(f"{path}: no execution provider could load the model")


def _ort_model(path: Path) -> str | bytes:
    """The path as ONNX Runtime takes it; a name that is not UTF-8 (lone surrogates, which its binding
    refuses with a TypeError) is read here and handed over as bytes."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return path.read_bytes()
        except OSError as e:
            raise ModelError(f"{path}: cannot read the model ({e.strerror or e})") from e
    return text


# "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from /x.onnx failed:" says what the rest
# of the message and the line around it say already.
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (Load model from .* failed:)?")


def _ort_cause(error: Exception) -> str:
    """ONNX Runtime's load error in one line, without its code and the path the message names anyway."""
    return _ORT_PREFIX.sub("", _first_line(error)).strip() or _first_line(error)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
