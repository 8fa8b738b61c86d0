"""Run a command in a pseudo-terminal and read back the screen a person would see.

The command's stdin, stdout and stderr are all the pty's slave, as in a real terminal, so progress
on stderr and tables on stdout meet on one screen. The bytes it writes go through pyte, a VT100
emulator; :attr:`Screen.text` is what stays on the screen and in the scrollback when it ends.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pyte
from synthetic import VIDCLASS

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Screen:
    #: The scrollback followed by the visible screen, trailing blank lines dropped.
    lines: list[str]
    #: Everything the command wrote, as bytes (escape sequences included).
    raw: bytes
    returncode: int

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _line(row: dict, columns: int) -> str:
    return "".join(row[x].data for x in range(columns)).rstrip()


def run_in_terminal(
    args: list[str],
    *,
    columns: int = 80,
    rows: int = 40,
    env: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    cwd: Path | None = None,
) -> Screen:
    """Run ``args`` on a ``columns`` x ``rows`` pty; the screen (with scrollback) when it exits."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    full_env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLUMNS": str(columns),
        "LINES": str(rows),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    # rich and Click look at these before the terminal: a test run from CI must not inherit them.
    for name in ("NO_COLOR", "FORCE_COLOR", "CI", "GITHUB_ACTIONS", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        if env is None or name not in env:
            full_env.pop(name, None)
    process = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, env=full_env, cwd=cwd or ROOT, close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    raw = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if time.monotonic() > deadline:
                process.kill()
                so_far = raw.decode(errors="replace")
                raise TimeoutError(f"{args} did not end within {timeout_s} s; screen so far:\n{so_far}")
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every copy of the slave is closed
                    break
                if not chunk:
                    break
                raw += chunk
            elif process.poll() is not None:
                # Drained: nothing left to read and the process is gone.
                ready, _, _ = select.select([master], [], [], 0.2)
                if not ready:
                    break
        returncode = process.wait(timeout=10)
    finally:
        os.close(master)
    screen = pyte.HistoryScreen(columns, rows, history=10_000)
    stream = pyte.ByteStream(screen)
    stream.feed(bytes(raw))
    lines = [_line(row, columns) for row in screen.history.top]
    lines += [_line(screen.buffer[y], columns) for y in range(rows)]
    while lines and not lines[-1]:
        lines.pop()
    return Screen(lines, bytes(raw), returncode)


def vidclass(*args: str, **options: object) -> Screen:
    """``vidclass ARGS...`` in a terminal (this checkout's package, this Python)."""
    return run_in_terminal([*VIDCLASS, *args], **options)  # type: ignore[arg-type]
