"""What a run leaves behind: records (JSON Lines, CSV), the terminal's tables, figures, annotated video.

Every output file is checked before the work starts (:func:`check_target`): a run never spends
minutes to fail on a file name, and never overwrites a file unless asked.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError


def check_target(path: str | os.PathLike[str], force: bool, option: str) -> Path:
    """Fail before any work: an existing file without ``force``, a folder, a missing parent folder."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder, not a file name")
    if path.exists() and not force:
        raise UsageError(f"{option} {path}: already exists; add --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: the folder {path.parent} does not exist")
    return path
