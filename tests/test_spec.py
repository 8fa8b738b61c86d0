from __future__ import annotations

import json

import pytest
from synthetic import TINY_SPEC, tiny_spec

from vidclass.errors import SpecError
from vidclass.spec import ModelSpec


def test_metadata_round_trip() -> None:
    meta = TINY_SPEC.to_metadata()
    assert all(isinstance(v, str) for v in meta.values())
    assert ModelSpec.from_metadata(meta) == TINY_SPEC


def test_no_metadata_says_how_to_make_a_model() -> None:
    with pytest.raises(SpecError, match=r"m\.onnx: no vidclass metadata.*export"):
        ModelSpec.from_metadata({"producer": "x"}, origin="m.onnx")


def test_missing_key_and_wrong_version_are_named() -> None:
    meta = TINY_SPEC.to_metadata()
    del meta["vidclass.frame_rate"]
    with pytest.raises(SpecError, match="lacks frame_rate"):
        ModelSpec.from_metadata(meta)
    meta = TINY_SPEC.to_metadata() | {"vidclass.spec_version": "99"}
    with pytest.raises(SpecError, match="version 99"):
        ModelSpec.from_metadata(meta)


def test_garbage_values_are_a_spec_error_not_a_traceback() -> None:
    meta = TINY_SPEC.to_metadata() | {"vidclass.labels": "{not json"}
    with pytest.raises(SpecError, match="unreadable"):
        ModelSpec.from_metadata(meta)
    meta = TINY_SPEC.to_metadata() | {"vidclass.crop_height": json.dumps("224")}
    with pytest.raises(SpecError, match="crop_height is not an integer"):
        ModelSpec.from_metadata(meta)


@pytest.mark.parametrize(
    "change",
    [{"labels": ()}, {"input_layout": "NHWC"}, {"frame_rate": 0.0}, {"crop_height": 64},
     {"window_frames": 1}, {"output_kind": "probabilities"}],
)
def test_invalid_specs_are_refused(change: dict) -> None:
    with pytest.raises(SpecError):
        tiny_spec(**change)
