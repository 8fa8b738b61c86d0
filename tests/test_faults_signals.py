"""SIGTERM ends a command the way Ctrl-C does: whole records, one summary line, exit 143 (130 for SIGINT).

Each test starts the real command in a child process, waits until it is at work (the first record
written, or the handler installed), sends the signal, and checks the exit code, every byte of
stderr and what is left in the output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from synthetic import VIDCLASS, interruptible, solid_frames, write_video

from vidclass.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, interruption

HANG_S = 120
pytestmark = [pytest.mark.subprocess, pytest.mark.kill]


def catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGTERM installed (Linux: SigCgt in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(re.search(r"^SigCgt:\s+([0-9a-f]+)$", status, re.M).group(1), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def wait_for(ready, proc: subprocess.Popen) -> None:
    started = time.monotonic()
    while not ready():
        assert proc.poll() is None, "the command ended before it was signalled"
        assert time.monotonic() - started < HANG_S, "the command never got to work"
        time.sleep(0.02)


def signalled(command: list, ready, sig: int = signal.SIGTERM) -> tuple[int, bytes, bytes]:
    """Run ``command``, send it ``sig`` once ``ready(proc)`` says it is at work: exit code, stdout, stderr."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=interruptible)
    try:
        head = ready(proc) or b""
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=HANG_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, head + stdout, stderr


@pytest.fixture()
def slow_inputs(tmp_path: Path) -> list[Path]:
    """40 inputs of 30 s each (tiny frames: a few hundred ms each to classify), as hard links of one file."""
    clip = write_video(tmp_path / "clip.avi", solid_frames(["red"] * 300, (120, 160)), 10)
    folder = tmp_path / "inputs"
    folder.mkdir()
    inputs = [folder / f"clip{i:02d}.avi" for i in range(40)]
    for path in inputs:
        os.link(clip, path)
    return inputs


def test_interruption_words_and_codes() -> None:
    assert interruption(KeyboardInterrupt()) == ("interrupted", EXIT_INTERRUPTED) == ("interrupted", 130)
    assert interruption(Terminated()) == ("terminated (SIGTERM)", EXIT_TERMINATED) == ("terminated (SIGTERM)", 143)
    assert isinstance(Terminated(), KeyboardInterrupt)  # everything that stops on Ctrl-C stops on it


@pytest.mark.parametrize(
    ("sig", "workers"),
    [
        (signal.SIGTERM, 1),
        pytest.param(signal.SIGTERM, 2, marks=pytest.mark.spawn),
        (signal.SIGINT, 1),
    ],
    ids=["sigterm", "sigterm-2-workers", "sigint"],
)
def test_predict_stops_with_whole_records_and_resume_finishes(
    tmp_path: Path, tiny_model: Path, slow_inputs: list[Path], sig: signal.Signals, workers: int
) -> None:
    out = tmp_path / "out.jsonl"
    command = [*VIDCLASS, "predict", *slow_inputs, "--model", tiny_model, "--provider", "cpu", "--output", out]
    command += ["--workers", str(workers)]
    code, stdout, stderr = signalled(
        command, lambda proc: wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 1, proc), sig
    )
    err = stderr.decode()
    assert code == (143 if sig == signal.SIGTERM else 130), err
    word = "terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted"
    [line] = err.splitlines()  # no traceback, from this process or a worker
    said = rf"vidclass: {re.escape(word)} after (\d+) classified, 0 failed; --resume continues (.*)"
    found = re.fullmatch(said, line)
    assert found and found.group(2) == str(out) and stdout == b""
    data = out.read_bytes()
    assert data.endswith(b"\n")
    records = [json.loads(line) for line in data.decode().splitlines()]  # every record whole
    assert len(records) == int(found.group(1)) < 40 and all(r["top"][0]["label"] == "red" for r in records)
    done = subprocess.run([*command, "--resume"], capture_output=True, timeout=HANG_S)
    assert done.returncode == 0, done.stderr
    sources = [json.loads(line)["source"] for line in out.read_text().splitlines()]
    assert sorted(sources) == sorted(map(str, slow_inputs))  # each exactly once


def test_watch_stops_with_its_summary(tmp_path: Path, tiny_model: Path) -> None:
    video = write_video(tmp_path / "long.avi", solid_frames(["red"] * 600), 10)  # 60 s, played in real time
    out = tmp_path / "w.jsonl"
    command = [*VIDCLASS, "watch", video, "--model", tiny_model, "--provider", "cpu", "--json", "--output", out]
    code, stdout, stderr = signalled(command, lambda proc: proc.stdout.readline())  # at work: the first window
    err = stderr.decode()
    assert code == 143, err
    [line] = err.splitlines()
    assert line.startswith(f"vidclass: {video}: terminated (SIGTERM) · ")
    assert re.search(r" · \d+ windows? classified", line)
    shown = [json.loads(x) for x in stdout.decode().splitlines()]
    assert shown and [json.loads(x) for x in out.read_text().splitlines()] == shown


def test_evaluate_stops_with_one_line(tmp_path: Path, tiny_model: Path, slow_inputs: list[Path]) -> None:
    data = tmp_path / "data"
    (data / "red").mkdir(parents=True)
    for path in slow_inputs:
        os.link(path, data / "red" / path.name)
    command = [*VIDCLASS, "evaluate", data, "--model", tiny_model, "--provider", "cpu", "--json"]

    def under_way(proc: subprocess.Popen) -> None:
        wait_for(lambda: catches_sigterm(proc.pid), proc)
        time.sleep(0.5)  # the model loads, the first videos are classified

    code, stdout, stderr = signalled(command, under_way)
    assert code == 143 and stdout == b""
    assert stderr.decode().splitlines() == ["vidclass: terminated (SIGTERM)"]


def test_the_handler_is_the_commands_only(tiny_model: Path) -> None:
    """In-process (CliRunner, the Python API) SIGTERM keeps its handler once the command is over."""
    from synthetic import invoke

    before = signal.getsignal(signal.SIGTERM)
    assert invoke("inspect", "--model", tiny_model).exit_code == 0
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    ("stop", "code", "said"), [(Terminated, 143, "terminated (SIGTERM)"), (KeyboardInterrupt, 130, "interrupted")]
)
def test_a_command_without_its_own_stop_says_so_too(monkeypatch: pytest.MonkeyPatch, stop, code: int, said: str):
    """`vidclass models path` has no handler of its own: the app's says how it ended, with the same code."""
    from synthetic import invoke

    import vidclass.cli.models as models

    def stopped(*args: object, **kwargs: object) -> None:
        raise stop()

    monkeypatch.setattr(models, "resolve_model", stopped)
    done = invoke("models", "path")
    assert done.exit_code == code and done.stderr.splitlines()[-1] == f"vidclass: {said}"
    assert "Traceback" not in done.output and "Aborted" not in done.output
