"""The model's contract, stored in the ONNX file's ``metadata_props`` and read from there only.

Every number the runtime needs to feed the network (frame rate, resize rule, crop, value scaling,
layout, labels, default window and hop) lives here, written by ``scripts/export_i3d.py`` and parsed
by :meth:`ModelSpec.from_metadata`. No other module carries such a constant.

Metadata keys are prefixed ``vidclass.``; every value is a JSON document (ONNX metadata values are
strings). ``vidclass.spec_version`` lets a later runtime refuse a contract it does not understand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import SpecError

SPEC_VERSION = 1
PREFIX = "vidclass."
LAYOUTS = ("NTHWC", "NCTHW")
OUTPUT_KINDS = ("per_step_logits",)
INTERPOLATIONS = ("linear", "area", "cubic", "nearest")


@dataclass(frozen=True)
class ModelSpec:
    """What a vidclass ONNX model expects and produces."""

    name: str
    version: str
    labels: tuple[str, ...]
    #: Axis order of the input tensor; ``T`` is time, ``C`` the colour channels.
    input_layout: str
    #: Channel order of the colour axis ("RGB" or "BGR").
    channel_order: str
    #: Frames per second the network was trained on; sources are resampled to it by timestamp.
    frame_rate: float
    #: Resize so that the short side has this many pixels (aspect ratio kept) ...
    resize_short_side: int
    #: ... with this interpolation.
    resize_interpolation: str
    #: Then a centre crop of this size.
    crop_height: int
    crop_width: int
    #: Pixel values in [0, 255] become ``value * value_scale + value_offset``.
    value_scale: float
    value_offset: float
    #: Default sliding window and hop, in frames at ``frame_rate``.
    window_frames: int
    hop_frames: int
    #: The shortest clip the network accepts.
    min_frames: int
    #: Input frames per output time step.
    temporal_stride: int
    #: What the output holds: ``per_step_logits`` is ``[N, T', classes]`` before the mean over time.
    output_kind: str
    #: sha256 of the weights the model was converted from, and where they came from.
    weights_sha256: str
    source: str

    def __post_init__(self) -> None:
        problems = []
        if not self.labels:
            problems.append("no labels")
        if self.input_layout not in LAYOUTS:
            problems.append(f"input_layout {self.input_layout!r} is not one of {LAYOUTS}")
        if self.channel_order not in ("RGB", "BGR"):
            problems.append(f"channel_order {self.channel_order!r} is not RGB or BGR")
        if self.output_kind not in OUTPUT_KINDS:
            problems.append(f"output_kind {self.output_kind!r} is not one of {OUTPUT_KINDS}")
        if self.resize_interpolation not in INTERPOLATIONS:
            problems.append(f"resize_interpolation {self.resize_interpolation!r} is unknown")
        if not self.frame_rate > 0:
            problems.append(f"frame_rate {self.frame_rate} is not positive")
        for name in ("resize_short_side", "crop_height", "crop_width", "window_frames",
                     "hop_frames", "min_frames", "temporal_stride"):
            if getattr(self, name) < 1:
                problems.append(f"{name} {getattr(self, name)} is below 1")
        if self.crop_height > self.resize_short_side or self.crop_width > self.resize_short_side:
            problems.append("crop is larger than the resized short side")
        if self.window_frames < self.min_frames:
            problems.append(f"window_frames {self.window_frames} is below min_frames {self.min_frames}")
        if problems:
            raise SpecError("invalid vidclass metadata: " + "; ".join(problems))

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def time_axis(self) -> int:
        """Index of the time axis in one clip (the input without its batch axis)."""
        return self.input_layout.index("T") - 1

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` entries that describe this spec."""
        meta = {PREFIX + "spec_version": json.dumps(SPEC_VERSION)}
        for key, value in asdict(self).items():
            meta[PREFIX + key] = json.dumps(list(value) if isinstance(value, tuple) else value)
        return meta

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], origin: str = "model") -> ModelSpec:
        """Parse ``metadata_props``; raise :class:`SpecError` naming ``origin`` when it does not fit."""
        if PREFIX + "spec_version" not in meta:
            raise SpecError(
                f"{origin}: no vidclass metadata in this ONNX file "
                "(export one with scripts/export_i3d.py)"
            )
        try:
            version = json.loads(meta[PREFIX + "spec_version"])
            if version != SPEC_VERSION:
                raise SpecError(
                    f"{origin}: vidclass metadata version {version}, this vidclass reads {SPEC_VERSION}"
                )
            values: dict[str, Any] = {}
            missing = []
            for f in fields(cls):
                raw = meta.get(PREFIX + f.name)
                if raw is None:
                    missing.append(f.name)
                    continue
                values[f.name] = json.loads(raw)
            if missing:
                raise SpecError(f"{origin}: vidclass metadata lacks {', '.join(missing)}")
            values["labels"] = tuple(str(label) for label in values["labels"])
            for name in ("frame_rate", "value_scale", "value_offset"):
                values[name] = float(values[name])
            for name in ("resize_short_side", "crop_height", "crop_width", "window_frames",
                         "hop_frames", "min_frames", "temporal_stride"):
                if not isinstance(values[name], int):
                    raise SpecError(f"{origin}: vidclass metadata {name} is not an integer")
            return cls(**values)
        except SpecError as e:
            if str(e).startswith(origin):
                raise
            raise SpecError(f"{origin}: {e}") from e
        except (ValueError, TypeError) as e:
            raise SpecError(f"{origin}: unreadable vidclass metadata ({e})") from e
