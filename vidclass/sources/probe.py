"""Why a network stream will not open: one look at the network, within one deadline.

FFmpeg says only that it failed. After it has, :func:`stream_cause` connects once, and for http(s)
asks once, to tell the user what is wrong: an unknown host, a refused connection, an HTTP error, a
web page, a server that is not HTTP, or data that is not video. The whole look -- name lookup aside,
connection, TLS handshake, request, status line, header and the first bytes of the body -- has one
deadline (:data:`PROBE_S`, or the stream timeout when shorter): a server that trickles its header a
byte at a time cannot hold it longer, as it could hold ``urllib``, whose timeout is per byte.

What the server sent is quoted in the cause made visible and cut short
(:func:`~vidclass.text.for_terminal`): a reply is data, never an instruction to the terminal.
"""

from __future__ import annotations

import base64
import re
import socket
import ssl
import time
from urllib.parse import unquote, urlsplit

from ..text import for_terminal

#: The longest look at the network after a stream failed to open, in seconds.
PROBE_S = 5.0
#: An HTTP header longer than this, or with more lines, is not one a video server sends (http.client
#: refuses more than 100 lines too).
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_LINES = 100
#: Bytes of the body looked at to tell video from something else.
BODY_BYTES = 512
#: How much of what a server sent is quoted in a message.
QUOTE_CHARS = 60
# Schemes that run over TCP, with their default ports: a failed open is diagnosed by connecting.
TCP_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "tcp": 0}

_STATUS = re.compile(rb"HTTP/\d\.\d (\d{3})(?: ([^\r\n]*))?\r?\n")
# The first bytes of what FFmpeg reads as video over http: multipart (MJPEG), JPEG, MPEG-TS, MP4,
# Matroska/WebM, FLV, Ogg, AVI, an HLS or M3U playlist.
_VIDEO_STARTS = (b"--", b"\xff\xd8", b"\x47", b"\x1a\x45\xdf\xa3", b"FLV", b"OggS", b"RIFF", b"#EXTM3U", b"#EXT")


def quote(data: bytes | str) -> str:
    """What a server sent, for a message: visible, one line, at most :data:`QUOTE_CHARS` characters."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    shown = for_terminal(text[:QUOTE_CHARS])
    return f"{shown}..." if len(text) > QUOTE_CHARS else shown


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises TimeoutError when there are none."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


def stream_cause(url: str, timeout_s: float, elapsed_s: float) -> str:
    """Why FFmpeg could not open ``url`` after ``elapsed_s`` seconds: look at the network once."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in TCP_PORTS and parts.hostname:
        try:
            port = parts.port or TCP_PORTS[scheme]
        except ValueError:
            return "not a valid URL (bad port)"
        if not port:
            return "not a valid URL (no port)"
        deadline = _Deadline(min(timeout_s, PROBE_S))
        where = f"{parts.hostname}:{port}"
        try:
            sock = _connect(parts.hostname, port, deadline)
        except socket.gaierror:
            return f"unknown host {quote(parts.hostname)}"
        except ConnectionRefusedError:
            return f"connection refused by {quote(where)}"
        except TimeoutError:
            return f"no answer from {quote(where)} within {deadline.seconds:g} s"
        except OSError as e:
            return f"cannot connect to {quote(where)} ({e.strerror or e})"
        with sock:
            answer = _http_answer(sock, url, deadline) if scheme in ("http", "https") else None
        if answer:
            return answer
    if elapsed_s >= 0.9 * timeout_s:
        return f"no video arrived within {timeout_s:g} s (open timeout)"
    return "FFmpeg cannot read a video stream from it (not a video, or an unsupported format)"


def http_answer(url: str, timeout_s: float, *, opened: bool = False) -> str | None:
    """What an http(s) server at ``url`` answers that is not video, or None (nothing wrong seen, or
    not http). ``opened``: FFmpeg opened the stream, and then no frame decoded."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    deadline = _Deadline(min(timeout_s, PROBE_S))
    try:
        sock = _connect(parts.hostname, parts.port or TCP_PORTS[parts.scheme.lower()], deadline)
    except (OSError, ValueError):
        return None
    with sock:
        return _http_answer(sock, url, deadline, opened=opened)


def _connect(host: str, port: int, deadline: _Deadline) -> socket.socket:
    """A connection to the first address of ``host`` that answers, before the deadline."""
    error: OSError = ConnectionRefusedError()
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.left())
            sock.connect(address)
        except OSError as e:  # TimeoutError included: the next address, if time is left
            sock.close()
            error = e
            if isinstance(e, TimeoutError):
                raise
            continue
        return sock
    raise error


def _http_answer(sock: socket.socket, url: str, deadline: _Deadline, *, opened: bool = False) -> str | None:
    """What an http(s) server answers that is not video, or None when nothing looks wrong."""
    parts = urlsplit(url)
    try:
        if parts.scheme.lower() == "https":
            sock = _tls(sock, parts.hostname or "", deadline)
        sock.sendall(_request(url))
        return _Reply(sock, deadline).cause(opened)
    except TimeoutError:
        return f"the server sent no answer within {deadline.seconds:g} s"
    except _NotVideo as e:
        return str(e)
    except ssl.SSLError as e:
        return f"the TLS handshake failed ({quote(e.reason or str(e))})"
    except OSError as e:
        return f"the server's answer could not be read ({e.strerror or e})"


def _tls(sock: socket.socket, host: str, deadline: _Deadline) -> ssl.SSLSocket:
    # Only to ask what the server answers: FFmpeg does not verify certificates by default either.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock.settimeout(deadline.left())  # do_handshake keeps one deadline for the whole handshake
    return context.wrap_socket(sock, server_hostname=host or None)


def _request(url: str) -> bytes:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}", "User-Agent: vidclass",
             "Accept: */*", "Connection: close"]
    if parts.username is not None:  # as FFmpeg sends them: the same server it just asked
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append(f"Authorization: Basic {base64.b64encode(secret).decode()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


class _NotVideo(Exception):
    """What the server answered, when it is not a video stream; the message is the cause."""


class _Reply:
    """Status line and header of an HTTP reply, read within the deadline, and a look at its body."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.sock, self.deadline = sock, deadline
        self.data = b""
        self.header_end = -1
        self._read_header()

    def _recv(self) -> bytes:
        self.sock.settimeout(self.deadline.left())
        return self.sock.recv(16384)

    def _read_header(self) -> None:
        seconds = self.deadline.seconds
        while self.header_end < 0:
            try:
                chunk = self._recv()
            except TimeoutError:
                if not self.data:
                    raise
                raise _NotVideo(
                    f"the server's HTTP header did not arrive within {seconds:g} s ({len(self.data)} bytes came)"
                ) from None
            if not chunk:
                if not self.data:
                    raise _NotVideo("the server closed the connection without answering")
                self._check_status()
                raise _NotVideo("the server closed the connection in the middle of its HTTP header")
            self.data += chunk
            self._check_status()
            end = self.data.find(b"\r\n\r\n")
            self.header_end = end + 4 if end >= 0 else -1
            lines = self.data[: end if end >= 0 else len(self.data)].count(b"\n")
            if lines > MAX_HEADER_LINES:
                raise _NotVideo(f"the server's HTTP header has more than {MAX_HEADER_LINES} lines")
            if self.header_end < 0 and len(self.data) > MAX_HEADER_BYTES:
                raise _NotVideo(f"the server's HTTP header is longer than {MAX_HEADER_BYTES // 1024} KB")

    def _check_status(self) -> None:
        """Raise when what came so far cannot be the start of an HTTP status line."""
        line_end = self.data.find(b"\n")
        if line_end < 0:
            start = self.data[:5]
            if start == b"HTTP/"[: len(start)] and len(self.data) < 1024:
                return  # too little yet to tell
        first = self.data if line_end < 0 else self.data[: line_end + 1]
        if _STATUS.fullmatch(first) is None:
            answered = quote(first.rstrip(b"\r\n"))
            raise _NotVideo(f'not an HTTP server (it answered "{answered}")')

    def header(self, name: str) -> str:
        for line in self.data[: self.header_end].split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.encode():
                return value.strip().decode("latin-1")
        return ""

    def cause(self, opened: bool) -> str | None:
        match = _STATUS.match(self.data)
        if match is None:  # _check_status let it through: cannot happen
            return None
        status, reason = int(match.group(1)), match.group(2) or b""
        if status >= 400:
            return f"the server answered HTTP {status} {quote(reason)}"
        if 300 <= status < 400:
            where = quote(self.header("location")) or "nowhere"
            return f"the server redirects (HTTP {status}) to {where}, where FFmpeg found no video it can read"
        kind = self.header("content-type").split(";")[0].strip().lower()
        if kind.startswith("text/"):
            return f"the server answered with {quote(kind)}, not a video stream"
        body = self._body()
        if not body:
            return f"the server answered HTTP {status} with no data"
        what = quote(kind) or "no content type"
        if not body.startswith(_VIDEO_STARTS):
            return f'the server sends data that is not a video stream ({what}, starting "{quote(body[:16])}")'
        if opened:
            return f"the server sends data ({what}), but no frame of it decodes: damaged, or not what it claims"
        return None

    def _body(self) -> bytes:
        """The first bytes of the body (fewer when the deadline or the end of the reply comes first)."""
        body = self.data[self.header_end :]
        try:
            while len(body) < BODY_BYTES and (chunk := self._recv()):
                body += chunk
        except TimeoutError:
            pass
        if self.header("transfer-encoding").lower() == "chunked":  # skip the first chunk's size line
            body = body.partition(b"\r\n")[2]
        return body.lstrip(b"\r\n")
