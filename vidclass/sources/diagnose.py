"""Why a file will not open or decode, told from its own bytes rather than FFmpeg's "cannot open".

FFmpeg says only that it failed. What the user needs is the cause: no such file, a folder, a FIFO,
an empty file, an MP4 cut before its index was written, an audio file, a still image, a codec this
FFmpeg lacks. The checks here run before a capture opens (:func:`check_file`: a FIFO would block it
forever) or after it failed (:func:`unopenable_cause`, :func:`undecodable_cause`), reading at most
the first :data:`HEAD_BYTES` of the file (and the MP4 boxes' headers).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError


def check_file(path: Path, name: str) -> None:
    """Fail with the precise cause before OpenCV turns it into a vague 'cannot open' (or a hang)."""
    try:
        if path.is_symlink() and not path.exists():
            raise InputError(name, "broken symbolic link")
        if not path.exists():
            raise InputError(name, "no such file")
        if path.is_dir():
            raise InputError(name, "is a folder, not a video file")
        if not path.is_file():
            # Opening a FIFO blocks until something writes to it; a device may never end.
            raise InputError(name, "not a regular file (a FIFO, device or socket); give a video file")
        if not os.access(path, os.R_OK):
            raise InputError(name, "permission denied")
        if path.stat().st_size == 0:
            raise InputError(name, "empty file (0 bytes)")
    except OSError as e:  # a name too long, a folder on the way that cannot be searched, ...
        raise InputError(name, f"cannot be read ({e.strerror or e})") from e


#: How much of a file is read to tell what it is when FFmpeg cannot open it.
HEAD_BYTES = 64 * 1024


def read_head(path: Path, name: str) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as e:
        raise InputError(name, f"cannot be read ({e.strerror or e})") from e


# Leading bytes of common containers: a file that starts like a video but will not open is damaged.
_SIGNATURES = (
    (4, b"ftyp", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (8, b"AVI ", "AVI"),
    (0, b"GIF8", "GIF"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"FLV", "FLV"),
)
# Audio formats, told apart before the containers above (an .m4a is an MP4 with an audio track only).
_AUDIO_SIGNATURES = (
    (8, b"WAVE", "WAV"),
    (0, b"ID3", "MP3"),
    (0, b"fLaC", "FLAC"),
    (8, b"M4A ", "M4A"),
    (8, b"M4B ", "M4A"),
    (8, b"AIFF", "AIFF"),
)
# Still images, which FFmpeg opens as a one-frame video.
_IMAGE_SIGNATURES = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (8, b"WEBP", "WebP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"BM", "BMP"),
)


def _kind(head: bytes, signatures: tuple[tuple[int, bytes, str], ...]) -> str | None:
    for offset, magic, kind in signatures:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def still_image_kind(head: bytes) -> str | None:
    return _kind(head, _IMAGE_SIGNATURES)


def unopenable_cause(path: Path, head: bytes) -> str:
    audio = _kind(head, _AUDIO_SIGNATURES)
    if audio is None and head[:4] == b"OggS" and b"\x80theora" not in head:
        audio = "Ogg"
    if audio is not None:
        return f"an audio file ({audio}), no video stream"
    kind = _kind(head, _SIGNATURES)
    if kind == "MP4/MOV":
        return _mp4_cause(path)
    if kind == "Matroska/WebM" and _matroska_audio_only(head):
        return "no video track in this Matroska/WebM file (audio only)"
    if kind is not None:
        return f"damaged or truncated {kind} file: FFmpeg cannot open it"
    return "not a video file (FFmpeg does not recognise the format)"


def _mp4_cause(path: Path) -> str:
    """Walk the top-level boxes: a missing index (``moov``) means a cut or unfinished file."""
    size = path.stat().st_size
    offset = 0
    with path.open("rb") as f:
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(16)
            box_size, box = int.from_bytes(header[:4], "big"), header[4:8]
            if box_size == 1 and len(header) == 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - offset
            if box_size < 8:
                break
            if box == b"moov" and offset + box_size <= size:
                f.seek(offset)
                moov = f.read(min(box_size, 16 * HEAD_BYTES))
                if not _has_video_handler(moov):
                    return "no video track in this MP4/MOV file (audio only?)"
                return "damaged MP4/MOV file: FFmpeg cannot open it"
            offset += box_size
    return "damaged or truncated MP4/MOV file: FFmpeg cannot open it (no complete index: cut short, or never finished)"


def _has_video_handler(moov: bytes) -> bool:
    # hdlr box: size, "hdlr", version and flags (4), pre_defined (4), handler type ("vide", "soun", ...).
    start = moov.find(b"hdlr")
    while start >= 0:
        if moov[start + 12 : start + 16] == b"vide":
            return True
        start = moov.find(b"hdlr", start + 4)
    return False


def _matroska_audio_only(head: bytes) -> bool:
    # Tracks (ID 0x1654AE6B), then each TrackType (ID 0x83, a 1-byte size 0x81): 1 video, 2 audio.
    return b"\x16\x54\xae\x6b" in head and b"\x83\x81\x01" not in head and b"\x83\x81\x02" in head


def undecodable_cause(head: bytes, header_frames: int | None) -> str:
    kind = _kind(head, _SIGNATURES)
    frames = f"the {header_frames} frames its header announces" if header_frames else "its frames"
    what = f"damaged or truncated {kind} file" if kind else "damaged file, or a codec this FFmpeg lacks"
    return f"{what}: it opens, but none of {frames} decodes"
