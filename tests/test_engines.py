"""Engines behind one contract: the same results for every engine, mode and number of workers, and
settings that reach every worker and actor unchanged (issue: one engine under every command)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic import SAME_SPEC, make_same_model, solid_frames, write_video

from vidclass import Classifier, ClipResult
from vidclass.engines import classify_paths
from vidclass.settings import Mode, Settings
from vidclass.sources.inputs import expand_inputs


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "a.avi", solid_frames(["red", "green", "blue"] * 33, (40, 56)), 10.0)
    write_video(folder / "b.avi", solid_frames(["blue"] * 20 + ["red"] * 21, (40, 56)), 10.0)
    write_video(folder / "c.avi", solid_frames(["green"] * 7, (40, 56)), 10.0)  # shorter than a chunk's field
    return folder


def _by_source(results) -> dict[str, dict]:
    return {Path(r.source).name: r.to_dict() for r in results}


def _close(a: dict[str, dict], b: dict[str, dict], tol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for name in a:
        for key in ("frames", "windows", "short", "duration_s"):
            if key == "windows":
                assert [(w["start_s"], w["end_s"]) for w in a[name][key]] == [
                    (w["start_s"], w["end_s"]) for w in b[name][key]
                ]
            else:
                assert a[name][key] == b[name][key], (name, key)
        scores_a = {t["label"]: t["score"] for t in a[name]["top"]}
        scores_b = {t["label"]: t["score"] for t in b[name]["top"]}
        assert scores_a.keys() == scores_b.keys()
        for label in scores_a:
            assert abs(scores_a[label] - scores_b[label]) <= tol, (name, label)


@pytest.mark.spawn
@pytest.mark.slow
def test_dense_mode_with_two_workers_equals_dense_in_process(same_model: Path, videos: Path) -> None:
    clf = Classifier(same_model, provider="cpu", mode="dense", chunk_frames=40)
    here = _by_source(classify_paths(clf, expand_inputs([videos])))
    workers = _by_source(classify_paths(clf, expand_inputs([videos]), workers=2))
    assert len(here) == 3 and all("error" not in r for r in here.values())
    assert workers == here
    # and both are one pass: the clip's scores are the single pass's (test_dense checks the maths)
    assert here["a.avi"]["frames"] == 99


def test_settings_are_one_frozen_picklable_object(same_model: Path) -> None:
    import pickle

    settings = Settings(model=str(same_model), provider="cpu", mode="dense", chunk_frames=40, top_k=2)
    clf = Classifier(settings=settings)
    assert clf.settings.mode is Mode.dense and clf.settings.window_frames == SAME_SPEC.window_frames
    assert pickle.loads(pickle.dumps(clf.settings)) == clf.settings
    assert pickle.loads(pickle.dumps(clf.recipe)) == clf.recipe
    with pytest.raises(Exception, match="frozen|cannot assign"):
        clf.settings.top_k = 3  # type: ignore[misc]
    # The keyword API builds the same settings.
    assert Classifier(same_model, provider="cpu", mode="dense", chunk_frames=40, top_k=2).settings == clf.settings


@pytest.mark.slow
@pytest.mark.ray
def test_dense_mode_on_ray_equals_dense_in_process(local_ray, same_model: Path, videos: Path) -> None:
    clf = Classifier(same_model, provider="cpu", mode="dense", chunk_frames=40)
    here = _by_source(classify_paths(clf, expand_inputs([videos])))
    on_ray = _by_source(classify_paths(clf, expand_inputs([videos]), engine="ray", workers=1))
    _close(on_ray, here, 1e-6)


@pytest.mark.slow
@pytest.mark.ray
def test_precision_reaches_the_ray_actors(local_ray, tmp_path: Path, videos: Path) -> None:
    """``--precision int8`` opens ``NAME.int8.onnx`` next to the model: here a model with other
    weights, so scores show which file the actors ran. The driver once rebuilt them without it."""
    model = make_same_model(tmp_path / "same.onnx", seed=0)
    make_same_model(tmp_path / "same.int8.onnx", seed=1)
    runs = {}
    for precision in ("fp32", "int8"):
        clf = Classifier(model, provider="cpu", precision=precision, top_k=3)
        here = _by_source(classify_paths(clf, expand_inputs([videos])))
        on_ray = _by_source(classify_paths(clf, expand_inputs([videos]), engine="ray", workers=1))
        _close(on_ray, here, 1e-5)
        runs[precision] = here
    # The two files give other scores: the comparison above could tell which one the actors ran.
    assert runs["fp32"]["a.avi"]["top"] != runs["int8"]["a.avi"]["top"]


def test_every_mode_runs_through_the_same_per_file_function(same_model: Path, videos: Path) -> None:
    for mode in (Mode.windows, Mode.dense):  # stream mode needs the model's streaming form (test_stream_mode)
        clf = Classifier(same_model, provider="cpu", mode=mode, chunk_frames=40)
        seen = []
        result = clf.classify(videos / "a.avi", on_clip=seen.append)
        assert isinstance(result, ClipResult) and seen
        assert seen[-1].window.stop == result.frames
        assert np.isclose(sum(t.score for t in result.top), sum(t.score for t in result.top))


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.spawn)])
def test_progress_hears_the_expected_frames_before_the_clips(same_model: Path, videos: Path, workers: int) -> None:
    from vidclass.engines import run

    class Observer:
        def __init__(self) -> None:
            self.events: list[tuple[str, int, int | None]] = []

        def started(self, index: int, source: str) -> None:
            self.events.append(("started", index, None))

        def expected(self, index: int, frames: int | None) -> None:
            self.events.append(("expected", index, frames))

        def frames(self, index: int, count: int) -> None:
            self.events.append(("frames", index, count))

        def finished(self, index: int, result) -> None:  # noqa: ANN001
            self.events.append(("finished", index, result.frames))

    observer = Observer()
    clf = Classifier(same_model, provider="cpu")
    results = dict(run(clf, sorted(videos.glob("*.avi")), workers=workers, observer=observer))
    assert len(results) == 3
    for index, result in results.items():
        mine = [e for e in observer.events if e[1] == index]
        kinds = [kind for kind, _, _ in mine]
        assert kinds[:2] == ["started", "expected"] and kinds[-1] == "finished"
        assert mine[1][2] == result.frames  # the container's count, right for these files
        assert sum(n for kind, _, n in mine if kind == "frames") == result.frames
