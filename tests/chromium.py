"""Headless Chromium driven through the DevTools protocol over a pipe: pure Python, no dependency.

``chromium --remote-debugging-pipe`` reads protocol commands from its file descriptor 3 and writes
responses and events to descriptor 4, each message one JSON object ended by a NUL byte
(https://chromedevtools.github.io/devtools-protocol/). No port is opened, so nothing else on the
machine can talk to the browser, and two test runs cannot collide.

Used by the report's browser tests (tests/test_report.py) and by scripts/bench_report.py.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Names the Chromium binary goes by (Debian's package: chromium).
BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


class ProtocolError(RuntimeError):
    pass


def _high_fd(fd: int) -> int:
    """The same pipe end at a descriptor above 9 (close-on-exec), so that moving it to 3 or 4 in the
    child cannot overwrite the other end first."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium with one page (a tab), attached in flat session mode."""

    def __init__(self, binary: str, *, width: int = 1280, height: int = 900, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="vidclass-chromium-")
        commands_r, commands_w = (_high_fd(fd) for fd in os.pipe())
        events_r, events_w = (_high_fd(fd) for fd in os.pipe())

        def child_fds() -> None:  # runs in the child between fork and exec
            os.dup2(commands_r, 3)
            os.dup2(events_w, 4)

        args = [
            binary,
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
            # Running as root (CI containers) needs --no-sandbox; a test page needs no sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=child_fds,
            close_fds=False,
        )
        os.close(commands_r)
        os.close(events_w)
        self._out = commands_w
        self._in = events_r
        self._next_id = 0
        self._lock = threading.Condition()
        self._responses: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._closed = False
        #: Index in ``events`` where the page now shown started loading.
        self.loaded_at = 0
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    # --- the protocol ---------------------------------------------------------------------------
    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._lock:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._responses[message["id"]] = message
                    else:
                        self.events.append(message)
                self._lock.notify_all()
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def call(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its result (browser-level unless ``session``)."""
        with self._lock:
            self._next_id += 1
            number = self._next_id
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data) :]
        deadline = time.monotonic() + self.timeout_s
        with self._lock:
            while number not in self._responses:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    why = "the browser exited" if self._closed else f"no answer in {self.timeout_s:g} s"
                    raise ProtocolError(
                        f"{method}: {why}; stderr: {b''.join(self._stderr[-20:]).decode(errors='replace')}"
                    )
                self._lock.wait(left)
            response = self._responses.pop(number)
        if "error" in response:
            raise ProtocolError(f"{method}: {response['error']}")
        return response.get("result", {})

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.call(method, session=self.session, **params)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], since: int = 0) -> dict[str, Any]:
        """The first event from ``since`` on (an index into ``events``) for which ``predicate`` holds."""
        deadline = time.monotonic() + self.timeout_s
        with self._lock:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise ProtocolError("the awaited event never came")
                self._lock.wait(left)

    # --- what the tests do ----------------------------------------------------------------------
    def load(self, path: Path) -> None:
        """Open a file and wait for its load event."""
        since = self.loaded_at = len(self.events)
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.wait_for(lambda e: e.get("method") == "Page.loadEventFired", since)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise ProtocolError(f"JavaScript error: {details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    def key(self, key: str, code: str, key_code: int, text: str | None = None, shift: bool = False) -> None:
        """Press and release one key, as a keyboard would (focus moves, Enter toggles, ...)."""
        common: dict[str, Any] = {
            "key": key,
            "code": code,
            "windowsVirtualKeyCode": key_code,
            "modifiers": 8 if shift else 0,
        }
        self.send("Input.dispatchKeyEvent", type="keyDown", text=text or "", **common)
        self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))
        return path

    def console_problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors of the page shown."""
        problems = []
        for event in self.events[self.loaded_at :]:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                problems.append(
                    f"exception: {params['exceptionDetails'].get('text')} "
                    f"{params['exceptionDetails'].get('exception', {}).get('description', '')}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                problems.append(f"console.{params['type']}: {[a.get('value') for a in params.get('args', [])]}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                problems.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
        return problems

    def requests(self) -> list[str]:
        """Every URL the page shown asked for (itself included)."""
        events = self.events[self.loaded_at :]
        return [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (ProtocolError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
