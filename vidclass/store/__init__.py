"""Where the model lives: the one search order every command uses.

``--model`` (or the API's ``model``) > ``$VIDCLASS_MODEL`` > a checkout's ``models/`` > the user data
folder (``$XDG_DATA_HOME/vidclass/models``, by default ``~/.local/share/vidclass/models``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import ModelNotFoundError

DEFAULT_MODEL_FILE = "i3d_kinetics400.onnx"
#: The project's own models/ folder (a source checkout or an editable install).
PROJECT_MODELS = Path(__file__).resolve().parents[2] / "models"
EXPORT_HINT = "make it with `python scripts/export_i3d.py` in a vidclass checkout (see README, Quick start)"


def user_models_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "vidclass" / "models"


def resolve_model(model: str | os.PathLike[str] | None = None) -> Path:
    """``model`` argument > ``$VIDCLASS_MODEL`` > the project's ``models/`` > the user data folder."""
    explicit = model if model is not None else os.environ.get("VIDCLASS_MODEL") or None
    if explicit is not None:
        path = Path(explicit)
        if path.is_dir():
            path = path / DEFAULT_MODEL_FILE
        if not path.is_file():
            raise ModelNotFoundError(f"{explicit}: no such model file; {EXPORT_HINT}")
        return path
    searched = [PROJECT_MODELS, user_models_dir()]
    for folder in searched:
        if (folder / DEFAULT_MODEL_FILE).is_file():
            return folder / DEFAULT_MODEL_FILE
    places = ", ".join(str(folder) for folder in searched)
    raise ModelNotFoundError(f"no model found (looked for {DEFAULT_MODEL_FILE} in {places}); {EXPORT_HINT}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
