"""Batches: inputs (folders, globs, @lists, stdin), JSON Lines and CSV output, --resume after a kill,
parallel decoding workers, progress, and the Ray engine against the local one. Tiny colour model,
synthetic videos."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console
from synthetic import invoke, solid_frames, write_video

from vidclass import Classifier, ClipResult, ErrorResult
from vidclass.classifier import decode
from vidclass.engines import classify_paths
from vidclass.errors import InputError
from vidclass.outputs.records import csv_header
from vidclass.outputs.render import BatchProgress
from vidclass.sources.inputs import expand_inputs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Five good videos of different lengths and colours (two in a sub-folder), one broken file,
    and a text file that is not picked up from a folder."""
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    plan = [
        ("a_red.avi", "red", 23),
        ("b_green.avi", "green", 31),
        ("c_blue.avi", "blue", 9),
        ("sub/d_red.avi", "red", 44),
        ("sub/e_green.avi", "green", 17),
    ]
    for name, colour, frames in plan:
        write_video(root / name, solid_frames([colour] * frames + ["blue"] * 4), 10)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)  # an MP4 header, no movie
    (root / "notes.txt").write_text("not a video")
    return root


GOOD = ["a_red.avi", "b_green.avi", "c_blue.avi", "d_red.avi", "e_green.avi"]


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_name(recs: list[dict]) -> dict[str, dict]:
    return {Path(r["source"]).name: r for r in recs}


# --- inputs ----------------------------------------------------------------------------------------


def test_folders_globs_lists_and_stdin_expand_to_the_same_paths(folder: Path, tmp_path: Path) -> None:
    from_folder = [p for p in expand_inputs([folder]) if isinstance(p, Path)]
    assert sorted(p.name for p in from_folder) == sorted(GOOD + ["broken.mp4"])  # notes.txt is not a video
    # A glob the shell did not expand is expanded the way a shell would: sorted, files as given.
    assert [p.name for p in expand_inputs([f"{folder}/*.avi"])] == ["a_red.avi", "b_green.avi", "c_blue.avi"]
    assert {p.name for p in expand_inputs([f"{folder}/**/*_red.avi"])} == {"a_red.avi", "d_red.avi"}
    # A list: one entry a line, relative to the list's folder; blank lines and comments skipped.
    listing = folder / "list.txt"
    listing.write_text("# my clips\na_red.avi\n\n  \nsub\n")
    listed = list(expand_inputs([f"@{listing}"]))
    assert [p.name for p in listed] == ["a_red.avi", "d_red.avi", "e_green.avi"]
    # stdin: relative to the working directory.
    piped = list(expand_inputs(["-"], stdin=io.StringIO(f"{folder / 'c_blue.avi'}\r\n{folder / 'sub'}\n")))
    assert [p.name for p in piped] == ["c_blue.avi", "d_red.avi", "e_green.avi"]


@pytest.mark.parametrize(
    ("given", "cause"),
    [
        ("@{tmp}/nolist.txt", "no such list file"),
        ("{tmp}/nothing-*.mp4", "no file matches this pattern"),
        ("@{tmp}/empty.txt", "the list is empty"),
    ],
)
def test_input_problems_are_items_not_exceptions(tmp_path: Path, given: str, cause: str) -> None:
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    items = list(expand_inputs([given.format(tmp=tmp_path)]))
    assert len(items) == 1 and isinstance(items[0], InputError)
    assert items[0].source == given.format(tmp=tmp_path) and items[0].cause == cause


def test_stdin_is_read_once(tmp_path: Path) -> None:
    items = list(expand_inputs(["-", "-"], stdin=io.StringIO("")))
    assert len(items) == 1 and "already read" in items[0].cause


# --- the CLI over a folder -------------------------------------------------------------------------


def test_broken_file_among_good_ones(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = invoke("predict", folder, "--model", tiny_model, "--json", "--output", out)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    streamed, written = records(result.stdout), records(out.read_text())
    assert streamed == written
    assert sorted(by_name(written)) == sorted(GOOD + ["broken.mp4"])
    for name in GOOD:
        rec = by_name(written)[name]
        assert "error" not in rec and rec["top"][0]["label"] == name.split("_")[1].split(".")[0]
    broken = by_name(written)["broken.mp4"]
    assert set(broken) == {"source", "error"}
    assert "damaged or truncated MP4/MOV file" in broken["error"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("vidclass:")]
    assert errors == [f"vidclass: {folder / 'broken.mp4'}: {broken['error']}"]
    assert "5 classified, 1 failed" in result.stderr


def test_output_file_is_never_overwritten_without_force(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    refused = invoke("predict", folder / "a_red.avi", "--model", tiny_model, "--output", out)
    assert refused.exit_code == 2
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert out.read_text() == "precious\n"
    forced = invoke("predict", folder / "a_red.avi", "--model", tiny_model, "--output", out, "--force")
    assert forced.exit_code == 0
    assert [Path(r["source"]).name for r in records(out.read_text())] == ["a_red.avi"]
    assert forced.stdout == ""  # with --output, stdout carries nothing unless --json or --csv asks


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--csv"], "choose one"),
        (["--resume"], "--resume continues a results file"),
        (["--output", "out.txt"], "cannot tell the output format"),
        (["--address", "127.0.0.1:6379"], "needs --engine ray"),
        (["--output", "out.jsonl", "--force", "--resume"], "contradict"),
    ],
)
def test_contradictory_options_exit_2(tiny_model: Path, folder: Path, tmp_path: Path, args, message) -> None:
    args = [str(tmp_path / a) if a.startswith("out.") else a for a in args]
    result = invoke("predict", folder / "a_red.avi", "--model", tiny_model, *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_csv_reads_back_with_the_csv_module(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = invoke("predict", folder, "--model", tiny_model, "--output", out, "--top-k", "2", "--csv")
    assert result.exit_code == 1
    with out.open(newline="", encoding="utf-8-sig") as f:  # the file starts with a BOM for spreadsheets
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "source",
        "top1_label",
        "top1_score",
        "label_1",
        "score_1",
        "label_2",
        "score_2",
        "duration_s",
        "error",
    ]
    assert list(csv.DictReader(io.StringIO(result.stdout))) == rows  # stdout: the same rows, no BOM
    assert not result.stdout.startswith("\ufeff")
    json_run = records(invoke("predict", folder, "--model", tiny_model, "--json", "--top-k", "2").stdout)
    expected = by_name(json_run)
    assert sorted(Path(r["source"]).name for r in rows) == sorted(expected)
    for row in rows:
        rec = expected[Path(row["source"]).name]
        if "error" in rec:
            assert row["error"] == rec["error"] and row["top1_label"] == "" and row["duration_s"] == ""
            continue
        assert row["error"] == ""
        assert row["top1_label"] == row["label_1"] == rec["top"][0]["label"]
        assert float(row["top1_score"]) == float(row["score_1"]) == rec["top"][0]["score"]
        assert (row["label_2"], float(row["score_2"])) == (rec["top"][1]["label"], rec["top"][1]["score"])
        assert float(row["duration_s"]) == rec["duration_s"]


def test_stdin_list(tiny_model: Path, folder: Path) -> None:
    listing = f"{folder / 'b_green.avi'}\n\n# skipped\n{folder / 'sub'}\n{folder / 'gone.avi'}\n"
    result = invoke("predict", "-", "--model", tiny_model, "--json", input=listing)
    assert result.exit_code == 1
    recs = records(result.stdout)
    assert [Path(r["source"]).name for r in recs] == ["b_green.avi", "d_red.avi", "e_green.avi", "gone.avi"]
    assert recs[-1]["error"] == "no such file"


def test_at_list(tiny_model: Path, folder: Path) -> None:
    (folder / "todo.txt").write_text("sub/e_green.avi\na_red.avi\n")
    result = invoke("predict", f"@{folder / 'todo.txt'}", "--model", tiny_model, "--json")
    assert result.exit_code == 0
    recs = records(result.stdout)
    assert [r["source"] for r in recs] == [str(folder / "sub" / "e_green.avi"), str(folder / "a_red.avi")]
    assert [r["top"][0]["label"] for r in recs] == ["green", "red"]


def test_glob_not_expanded_by_the_shell(tiny_model: Path, folder: Path) -> None:
    result = invoke("predict", f"{folder}/*_green.avi", "--model", tiny_model, "--json")
    assert result.exit_code == 0
    assert [Path(r["source"]).name for r in records(result.stdout)] == ["b_green.avi"]


# --- resume after a kill ---------------------------------------------------------------------------

# The real CLI in a subprocess; after the first record reaches the file it signals and stalls, so
# that the test can SIGKILL it at a known point: mid-way, one record written, the rest not.
_STALL_AFTER_FIRST_RECORD = """
import sys, time
from pathlib import Path
import vidclass.outputs.records as outputs

def main():
    signal_file = Path(sys.argv[1])
    original = outputs.OutputFile.write

    def write_then_stall(self, result):
        original(self, result)
        signal_file.write_text(str(self.writer.records))
        time.sleep(120)

    outputs.OutputFile.write = write_then_stall
    from vidclass.cli import main as cli_main
    sys.argv = ["vidclass", *sys.argv[2:]]
    cli_main()

if __name__ == "__main__":
    main()
"""


def _children(pid: int) -> list[int]:
    try:
        found = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        return found
    except OSError:
        return []


@pytest.mark.subprocess
@pytest.mark.kill
@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.spawn)])
@pytest.mark.parametrize("ext", ["jsonl", "csv"])
def test_resume_after_a_kill_gives_every_source_once(
    tiny_model: Path, folder: Path, tmp_path: Path, workers: int, ext: str
) -> None:
    out, signal_file, shim = tmp_path / f"out.{ext}", tmp_path / "first-record", tmp_path / "shim.py"
    shim.write_text(textwrap.dedent(_STALL_AFTER_FIRST_RECORD))
    args = ["predict", str(folder), "--model", str(tiny_model), "--output", str(out), "--workers", str(workers)]
    process = subprocess.Popen(
        [sys.executable, str(shim), str(signal_file), *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not signal_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert signal_file.exists(), process.stderr.read().decode() if process.poll() is not None else "timeout"
        children = _children(process.pid)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    # Decoding workers notice that the main process is gone and end by themselves.
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c for c in children if Path(f"/proc/{c}").exists()]

    def sources() -> list[str]:
        if ext == "jsonl":
            return [r["source"] for r in records(out.read_text())]
        with out.open(newline="", encoding="utf-8-sig") as f:
            return [row["source"] for row in csv.DictReader(f)]

    assert len(sources()) == 1  # killed mid-way: one whole record, nothing else
    resumed = invoke(*args, "--resume")
    assert resumed.exit_code == 1  # the broken file fails again; nothing else does
    assert "1 done before, 5 to go" in resumed.stderr
    assert "1 skipped" in resumed.stderr
    assert sorted(Path(s).name for s in sources()) == sorted(GOOD + ["broken.mp4"])
    # And the resumed file holds what one uninterrupted run writes.
    clean = tmp_path / f"clean.{ext}"
    invoke(*args[:-4], "--output", clean)
    if ext == "jsonl":
        assert sorted(map(json.dumps, records(out.read_text()))) == sorted(map(json.dumps, records(clean.read_text())))
    else:
        with out.open(newline="", encoding="utf-8-sig") as a, clean.open(newline="", encoding="utf-8-sig") as b:
            assert sorted(map(tuple, csv.reader(a))) == sorted(map(tuple, csv.reader(b)))


def test_resume_cuts_off_a_half_written_line(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    """What a power cut in the middle of a write leaves: the unfinished record is dropped and redone."""
    out = tmp_path / "out.jsonl"
    args = ["predict", folder / "a_red.avi", folder / "b_green.avi", "--model", tiny_model, "--output", out]
    assert invoke(*args, "--force").exit_code == 0
    first, second = out.read_text().splitlines()
    out.write_text(first + "\n" + second[: len(second) // 2])
    resumed = invoke(*args, "--resume")
    assert resumed.exit_code == 0
    assert "cut off an unfinished last record" in resumed.stderr
    assert out.read_text().splitlines() == [first, second]


def test_resume_refuses_a_csv_with_other_columns(tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert invoke("predict", folder / "a_red.avi", "--model", tiny_model, "--output", out, "-k", "2").exit_code == 0
    before = out.read_bytes()
    result = invoke("predict", folder / "b_green.avi", "--model", tiny_model, "--output", out, "--resume")
    assert result.exit_code == 2 and "use the same --top-k" in result.stderr
    assert out.read_bytes() == before
    assert out.read_text(encoding="utf-8-sig").splitlines()[0] == ",".join(csv_header(2))


# --- workers ---------------------------------------------------------------------------------------


@pytest.mark.spawn
def test_results_do_not_depend_on_the_number_of_workers(tiny_model: Path, folder: Path) -> None:
    clf = Classifier(tiny_model, top_k=2)
    items = list(expand_inputs([folder, folder / "missing.avi"]))
    expected = {}
    for item in items:
        try:
            expected[str(item)] = clf.predict(item).to_dict()
        except InputError:
            expected[getattr(item, "source", str(item))] = None
    runs = {w: list(classify_paths(clf, items, workers=w)) for w in (1, 2, 3)}
    for workers, results in runs.items():
        assert sorted(r.source for r in results) == sorted(expected), workers
        for r in results:
            if isinstance(r, ClipResult):
                assert r.to_dict() == expected[r.source], (workers, r.source)
            else:
                assert expected[r.source] is None, (workers, r.source)
    again = classify_paths(clf, expand_inputs([folder, folder / "missing.avi"]))
    assert [r.to_dict() for r in runs[1]] == [r.to_dict() for r in again]


def crash_on_a_and_e(path, recipe):
    """A decoder that dies like FFmpeg segfaulting on a hostile file (used in a worker process)."""
    if Path(path).name.startswith(("a_", "e_")):
        os.kill(os.getpid(), signal.SIGSEGV)
    yield from decode(path, recipe)


@pytest.mark.spawn
def test_a_crashing_decoder_costs_one_file(tiny_model: Path, folder: Path) -> None:
    clf = Classifier(tiny_model)
    # a_red.avi is the first file (a fresh process takes over), e_green.avi the last (none needed).
    results = list(classify_paths(clf, expand_inputs([folder]), workers=2, decode_fn=crash_on_a_and_e))
    failed = {Path(r.source).name: r.error for r in results if isinstance(r, ErrorResult)}
    assert set(failed) == {"a_red.avi", "e_green.avi", "broken.mp4"}
    for name in ("a_red.avi", "e_green.avi"):
        assert failed[name] == "the decoding process died on this file (killed by SIGSEGV)"
    good = sorted(Path(r.source).name for r in results if isinstance(r, ClipResult))
    assert good == ["b_green.avi", "c_blue.avi", "d_red.avi"]


@pytest.mark.spawn
def test_stopping_early_ends_the_workers(tiny_model: Path, folder: Path) -> None:
    """What Ctrl-C or a closed pipe does to a run: the generator is closed mid-way."""
    import multiprocessing

    results = classify_paths(Classifier(tiny_model), expand_inputs([folder]), workers=2)
    next(results)
    assert len([p for p in multiprocessing.active_children() if p.name == "vidclass-decoder"]) == 2
    results.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "vidclass-decoder"]


@pytest.mark.spawn
def test_workers_option_in_the_cli(tiny_model: Path, folder: Path) -> None:
    one = invoke("predict", folder, "--model", tiny_model, "--json")
    two = invoke("predict", folder, "--model", tiny_model, "--json", "--workers", "2")
    assert one.exit_code == two.exit_code == 1
    assert sorted(one.stdout.splitlines()) == sorted(two.stdout.splitlines())
    assert invoke("predict", folder, "--model", tiny_model, "--workers", "0").exit_code == 2


# --- progress --------------------------------------------------------------------------------------


def test_progress_shows_files_current_file_speed_and_eta() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=150)
    progress = BatchProgress(console, 3)
    with progress:
        progress.started(0, "/data/first.mp4")
        progress.frames(0, 40)
        progress.finished(0, ErrorResult("/data/first.mp4", "x"))
        progress.started(1, "/data/second.mp4")
        progress.frames(1, 25)
        drawn = len(buffer.getvalue())
        console.print(progress._render())  # what the next redraw shows
        screen = buffer.getvalue()[drawn:]
    assert "second.mp4" in screen and "25 frames" in screen and "first.mp4" not in screen
    assert "1/3 files done" in screen and "frames/s" in screen and "1 failed" in screen and "left in all" in screen


def test_no_progress_when_stderr_is_not_a_terminal(tiny_model: Path, folder: Path) -> None:
    result = invoke("predict", folder / "a_red.avi", folder / "c_blue.avi", "--model", tiny_model, "--json")
    assert result.exit_code == 0
    assert result.stderr == ""  # CliRunner's stderr is not a terminal: no bar, no summary
    quiet = invoke("predict", folder, "--model", tiny_model, "--output", folder / "o.jsonl", "--quiet")
    assert "classified" not in quiet.stderr and quiet.stderr.startswith("vidclass: ")  # errors still shown


# --- the Ray engine --------------------------------------------------------------------------------


@pytest.mark.ray
def test_ray_engine_gives_the_local_engine_results(
    local_ray, tiny_model: Path, folder: Path, tmp_path: Path, monkeypatch
) -> None:
    local = tmp_path / "local.jsonl"
    on_ray = tmp_path / "ray.jsonl"
    # Relative paths: Ray's worker processes do not share this working folder, the records still
    # name each source as it was given.
    monkeypatch.chdir(tmp_path)
    args = ["predict", "videos", "videos/missing.avi", "--model", tiny_model, "--top-k", "2"]
    assert invoke(*args, "--output", local).exit_code == 1
    result = invoke(*args, "--output", on_ray, "--engine", "ray", "--workers", "2")
    assert result.exit_code == 1, result.output
    # Two actors would hold both CPUs and starve the decoding tasks: one runs, and it says so.
    assert "1 ONNX Runtime actor(s) instead of 2" in result.stderr
    assert sorted(map(json.dumps, records(on_ray.read_text()))) == sorted(map(json.dumps, records(local.read_text())))
    assert len(records(on_ray.read_text())) == 7
    assert {r["source"] for r in records(on_ray.read_text())} >= {"videos/a_red.avi", "videos/missing.avi"}


@pytest.mark.ray
def test_ray_engine_resumes_like_the_local_one(local_ray, tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert invoke("predict", folder / "a_red.avi", "--model", tiny_model, "--output", out).exit_code == 0
    result = invoke("predict", folder, "--model", tiny_model, "--output", out, "--resume", "--engine", "ray")
    assert result.exit_code == 1
    assert sorted(Path(r["source"]).name for r in records(out.read_text())) == sorted(GOOD + ["broken.mp4"])


def test_ray_missing_is_a_usage_error(monkeypatch, tiny_model: Path, folder: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    result = invoke("predict", folder / "a_red.avi", "--model", tiny_model, "--engine", "ray")
    assert result.exit_code == 2
    assert "pip install 'vidclass[ray]'" in result.stderr and result.stderr.count("\n") == 1
