"""``watch --show``: an OpenCV window with the video and the current labels drawn on it.

The display is checked before any window is made: opencv-python's Qt backend aborts the whole
process (it does not raise) when it cannot reach a display, so that must never be left to it.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import cv2
import numpy as np

from ..errors import UsageError
from ..results import LiveResult
from ..text import for_terminal

#: How often the window is redrawn while no new result arrives.
REDRAW_S = 1 / 30
_KEYS_THAT_CLOSE = {ord("q"), ord("Q"), 27}  # q or Esc
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def display_problem() -> str | None:
    """Why no window can be shown here, or None when one can (as far as can be told safely)."""
    gui = _gui_backend()
    if gui is not None and gui.upper().startswith("NONE"):
        return "this OpenCV has no GUI support (the -headless build?); install opencv-python"
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "no display (DISPLAY is not set): run it in a desktop session, or drop --show"
    if not _x_display_reachable(display):
        return f"cannot reach the display DISPLAY={display}"
    return None


def _gui_backend() -> str | None:
    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "GUI":
            return value.strip()
    return None


def _x_display_reachable(display: str) -> bool:
    """Connect to the X server named by ``$DISPLAY`` (``:0``, ``unix:1``, ``host:10.0``)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True  # a form this does not know: let the GUI toolkit judge
    try:
        if host in ("", "unix"):
            path = Path("/tmp/.X11-unix") / f"X{number}"
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2.0)
                try:
                    s.connect(str(path))
                except OSError:
                    s.connect("\0" + str(path))  # Linux abstract socket, which X servers also open
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=2.0).close()
    except OSError:
        return False
    return True


def overlay(image: np.ndarray, result: LiveResult | None, lines: int = 3) -> np.ndarray:
    """A copy of ``image`` with the best labels of ``result`` and its time span drawn on it."""
    out = image.copy()
    if result is None:
        return out
    scale = max(0.4, min(out.shape[:2]) / 600)
    thickness = max(1, round(scale * 2))
    step = round(30 * scale)
    # Labels are the model's text: a line break or control character shown as the terminal shows it.
    texts = [f"{for_terminal(t.label)}  {t.score:.2f}" for t in result.top[:lines]]
    texts.append(f"{result.start_s:.1f}-{result.end_s:.1f} s, latency {result.latency_ms:.0f} ms")
    for i, text in enumerate(texts):
        origin = (10, step * (i + 1))
        cv2.putText(out, text, origin, _FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(out, text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


class Viewer:
    """One window, redrawn from the caller's (main) thread."""

    def __init__(self, title: str) -> None:
        problem = display_problem()
        if problem is not None:
            raise UsageError(f"--show: {problem}")
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        self._shown = False

    def show(self, image: np.ndarray | None, result: LiveResult | None) -> bool:
        """Draw the frame with the labels; False once the user closed the window or pressed q/Esc."""
        if image is not None:
            cv2.imshow(self.title, overlay(image, result))
            self._shown = True
        key = cv2.waitKey(1) & 0xFF
        if key in _KEYS_THAT_CLOSE:
            return False
        return not self._shown or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)  # let the toolkit process the close
