"""Loopback servers for watch tests, on 127.0.0.1 only, on a free port, in a thread of the test.

:class:`MjpegServer` serves frames as ``multipart/x-mixed-replace`` (what IP cameras serve). What
happens after the frames have been sent is chosen per connection: ``"close"`` ends the response
(a stream that dies), ``"stall"`` keeps the connection open and sends nothing (a stream that
hangs), ``"loop"`` starts the frames again until the server stops (a live camera).
:class:`StaticServer` serves the files of a folder (an HLS playlist and its segments).
:class:`RawServer` answers each connection with a function of the socket: servers that are not
well-behaved HTTP (a header trickled a byte at a time, a reply that is not HTTP, garbage).
"""

from __future__ import annotations

import functools
import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = b"vidclassframe"


class _LoopbackServer:
    """A server (HTTP unless told otherwise) on 127.0.0.1 and a free port, serving from a thread while in ``with``."""

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler] | functools.partial,
        server: type[socketserver.TCPServer] = http.server.ThreadingHTTPServer,
    ) -> None:
        self._stopping = threading.Event()
        self._server = server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-server", daemon=True)

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self):  # returns the subclass: MjpegServer, StaticServer or RawServer
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class MjpegServer(_LoopbackServer):
    def __init__(
        self,
        frames: Sequence[np.ndarray],
        fps: float,
        *,
        after: str = "loop",
        later: str | None = None,
        path: str = "/stream",
        quality: int = 90,
    ) -> None:
        """``after``: what the first connection gets once the frames are sent; ``later``: what the
        next connections get (default: the same)."""
        self.jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes() for f in frames]
        self.fps = fps
        self.modes = (after, later or after)
        self.path = path
        self.connections = 0
        self.frames_sent = 0
        #: Set when a client went away while frames were being sent to it.
        self.client_left = threading.Event()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return self._url(self.path)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
                if self.path != server.path:
                    self.send_error(404)
                    return
                mode = server.modes[min(server.connections, 1)]
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    self._send_frames(loop=mode == "loop")
                except (BrokenPipeError, ConnectionResetError):
                    server.client_left.set()
                    return
                if mode == "stall":
                    server._stopping.wait()

            def _send_frames(self, loop: bool) -> None:
                start = time.monotonic()
                n = 0
                while not server._stopping.is_set():
                    jpeg = server.jpegs[n % len(server.jpegs)]
                    due = start + n / server.fps
                    time.sleep(max(0.0, due - time.monotonic()))
                    head = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % (BOUNDARY, len(jpeg))
                    self.wfile.write(head + jpeg + b"\r\n")
                    self.wfile.flush()
                    server.frames_sent += 1
                    n += 1
                    if n == len(server.jpegs) and not loop:
                        return

        return Handler


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class StaticServer(_LoopbackServer):
    def __init__(self, folder: Path) -> None:
        super().__init__(functools.partial(_QuietFiles, directory=str(folder)))

    def url(self, name: str) -> str:
        return self._url(f"/{name}")


class RawServer(_LoopbackServer):
    """A TCP server on 127.0.0.1 and a free port: reads the request, then ``answer(conn, stopping)``.

    ``stopping`` is set when the ``with`` block ends; an answer that waits should wait on it.
    """

    def __init__(self, answer: Callable[[socket.socket, threading.Event], None]) -> None:
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    self.request.settimeout(30)
                    self.request.recv(65536)
                    answer(self.request, server._stopping)
                except OSError:  # the client went away
                    pass

        super().__init__(Handler, socketserver.ThreadingTCPServer)

    @property
    def url(self) -> str:
        return self._url("/stream")
