"""``predict --report`` and ``evaluate --report``: the report of a run, its thumbnails taken in the
decode that classifies (no second read of the file), whatever the engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from synthetic import make_tiny_model, solid_frames, write_video
from typer.testing import CliRunner

from vidclass import Classifier, Settings, expand_inputs, run
from vidclass.cli import app
from vidclass.sources import files as files_module

runner = CliRunner()


@pytest.fixture()
def batch(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "videos"
    folder.mkdir()
    for name, colour in (("red.avi", "red"), ("green.avi", "green")):
        write_video(folder / name, solid_frames([colour] * 30, (48, 64)), 10.0)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    return folder, make_tiny_model(tmp_path / "tiny.onnx")


@pytest.mark.parametrize("workers", [1, 2])
def test_thumbnails_come_from_the_decode_that_classifies(batch, workers: int, monkeypatch) -> None:
    folder, model = batch
    opened: list[str] = []
    real_init = files_module.VideoFile.__init__

    def counting_init(self, path):  # noqa: ANN001
        opened.append(str(path))
        real_init(self, path)

    if workers == 1:  # in this process: count how often each file is opened
        monkeypatch.setattr(files_module.VideoFile, "__init__", counting_init)
    clf = Classifier(settings=Settings(model=str(model), thumbnails=4))
    results = dict(run(clf, expand_inputs([folder]), workers=workers))
    good = [r for r in results.values() if not hasattr(r, "error")]
    assert len(good) == 2
    for result in good:
        assert 1 <= len(result.thumbnails) <= 4
        assert all(t.jpeg[:2] == b"\xff\xd8" for t in result.thumbnails)  # JPEG
        assert "thumbnails" not in result.to_dict()
    if workers == 1:
        assert sorted(Path(p).name for p in opened) == ["broken.mp4", "green.avi", "red.avi"]  # once each


def test_predict_report_writes_one_page_and_refuses_to_overwrite(batch, tmp_path: Path) -> None:
    folder, model = batch
    page = tmp_path / "report.html"
    done = runner.invoke(app, ["predict", str(folder), "--model", str(model), "--report", str(page), "--json"])
    assert done.exit_code == 1  # the broken file
    assert len(done.stdout.splitlines()) == 3 and page.is_file()
    text = page.read_text()
    blocks = re.findall(r'<script type="application/json" class="vidclass-images"[^>]*>(.*?)</script>', text, re.S)
    strips = {key: value for block in blocks for key, value in json.loads(block).items()}
    assert len(strips) == 2 and all(1 <= len(images) <= 8 for images in strips.values())  # both good videos
    again = runner.invoke(app, ["predict", str(folder), "--model", str(model), "--report", str(page)])
    assert again.exit_code == 2 and "already exists" in again.stderr  # refused before any work


def test_evaluate_report_has_the_accuracy_and_every_video(tmp_path: Path) -> None:
    data = tmp_path / "labelled"
    for label, colour in (("red", "red"), ("green", "green")):
        (data / label).mkdir(parents=True)
        write_video(data / label / f"{colour}.avi", solid_frames([colour] * 30, (48, 64)), 10.0)
    model = make_tiny_model(tmp_path / "tiny.onnx")
    page = tmp_path / "eval.html"
    done = runner.invoke(app, ["evaluate", str(data), "--model", str(model), "--report", str(page)])
    assert done.exit_code == 0, done.output
    text = page.read_text()
    assert "red.avi" in text and "green.avi" in text
    assert "top1" in text or "accuracy" in text.lower()


@pytest.mark.slow
@pytest.mark.ray
def test_thumbnails_travel_back_from_ray_tasks(batch) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'vidclass[ray]')")
    pytest.importorskip("ray.data", reason="ray is installed without Ray Data (pip install 'ray[data]')")
    folder, model = batch
    clf = Classifier(settings=Settings(model=str(model), thumbnails=3))
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        on_ray = {r.source: r for _, r in run(clf, expand_inputs([folder]), engine="ray")}
    finally:
        ray.shutdown()
    here = {r.source: r for _, r in run(clf, expand_inputs([folder]))}
    for source, result in here.items():
        if hasattr(result, "error"):
            continue
        assert [t.time_s for t in on_ray[source].thumbnails] == [t.time_s for t in result.thumbnails]
        assert [t.jpeg for t in on_ray[source].thumbnails] == [t.jpeg for t in result.thumbnails]
