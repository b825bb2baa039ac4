"""The director move over a real HTTP socket speaking the doveadm HTTP API's JSON."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from dmf.service.worker_config import WorkerConfig
from dmf.worker.job_run import run_job
from dmf.worker.steps.move_user import choose_backend, is_local_address
from tests.fixtures.services import unavailable
from tests.worker.scripts.job_harness import (
    FAKE_DOVEADM,
    FakeDoveadm,
    entry_of,
    make_config,
    make_context,
)

NOT_LOCAL = "192.0.2.10"  # TEST-NET-1: never an address of this host


class _DoveadmApi(BaseHTTPRequestHandler):
    backends: list[dict[str, Any]] = []
    requests: list[tuple[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((self.headers.get("Authorization", ""), body))
        command, parameters, tag = body[0]
        result = self.backends if command == "directorStatus" else {}
        payload = json.dumps([["doveadmResponse", result, tag]]).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        """Quiet."""


def _serve(tls: ssl.SSLContext | None) -> Iterator[tuple[str, type[_DoveadmApi]]]:
    handler = type("Api", (_DoveadmApi,), {"backends": [], "requests": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    yield f"{scheme}://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.fixture()
def api() -> Iterator[tuple[str, type[_DoveadmApi]]]:
    yield from _serve(None)


@pytest.fixture()
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture()
def tls_api(authority: trustme.CA) -> Iterator[tuple[str, type[_DoveadmApi]]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    yield from _serve(context)


def director(url: str, **http: Any) -> dict[str, Any]:
    return {"director": {"enabled": True, "move-user": True},
            "http": {"url": url, "username": "admin", "password": "apipw", **http}}


def test_local_addresses() -> None:
    assert is_local_address("127.0.0.1") and not is_local_address(NOT_LOCAL)
    assert not is_local_address("not-an-ip")
    backends = [{"mail server ip": NOT_LOCAL, "tag": "aa"},
                {"mail server ip": "127.0.0.1", "tag": ""},
                {"mail server ip": "127.0.0.2", "tag": "aa"}]
    assert choose_backend(backends, "aa", only_tagged=False) == "127.0.0.2"
    assert choose_backend(backends[:2], "aa", only_tagged=False) == "127.0.0.1"
    assert choose_backend(backends[:2], "aa", only_tagged=True) is None


async def test_user_moved_to_this_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          api: tuple[str, type[_DoveadmApi]]) -> None:
    url, handler = api
    handler.backends = [{"mail server ip": NOT_LOCAL, "tag": "", "vhosts": "100"},
                        {"mail server ip": "127.0.0.1", "tag": "", "vhosts": "100"}]
    FakeDoveadm(tmp_path, monkeypatch)
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, director(url)))
    assert entry_of(outcome.details, "move user") == {"success": True, "errors": [],
                                                      "host": "127.0.0.1"}
    expected_auth = "Basic " + base64.b64encode(b"admin:apipw").decode()
    assert handler.requests == [
        (expected_auth, [["directorStatus", {}, "dmf"]]),
        (expected_auth, [["directorMove", {"user": "user1", "host": "127.0.0.1"}, "dmf"]])]


async def test_move_fails_when_worker_is_no_backend(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    api: tuple[str, type[_DoveadmApi]]) -> None:
    url, handler = api
    handler.backends = [{"mail server ip": NOT_LOCAL, "tag": ""}]
    FakeDoveadm(tmp_path, monkeypatch)
    source = {**director(url), "failure-flags": {"pre": {"director-move-user": True}}}
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, source))
    move = entry_of(outcome.details, "move user")
    assert not move["success"] and NOT_LOCAL in move["errors"][0]
    assert not outcome.success and len(handler.requests) == 1  # flagged: no migration


async def test_http_error_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   api: tuple[str, type[_DoveadmApi]]) -> None:
    url, handler = api
    handler.status = 401
    FakeDoveadm(tmp_path, monkeypatch)
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, director(url)))
    assert entry_of(outcome.details, "move user")["errors"] == ["directorStatus: HTTP 401"]
    assert outcome.success  # not flagged


def _with_trust_store(config: WorkerConfig, path: Path, password: str) -> WorkerConfig:
    data = config.model_dump(by_alias=True, exclude_unset=True)
    data["micronaut"] = {"http": {"services": {"doveadm": {"ssl": {
        "enabled": True, "trust-store": {"path": f"file:{path}", "password": password,
                                         "type": "PKCS12"}}}}}}
    return WorkerConfig.model_validate(data)


async def test_tls_verified_with_keytool_trust_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, authority: trustme.CA,
        tls_api: tuple[str, type[_DoveadmApi]]) -> None:
    keytool = shutil.which("keytool")
    if keytool is None:
        unavailable("keytool", "not installed (Debian package openjdk-17-jre-headless)")
    url, handler = tls_api
    handler.backends = [{"mail server ip": "127.0.0.1", "tag": ""}]
    FakeDoveadm(tmp_path / "fake", monkeypatch)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    store = tmp_path / "doveadm.p12"
    subprocess.run([keytool, "-importcert", "-noprompt", "-storetype", "PKCS12", "-keystore",
                    str(store), "-storepass", "storepw", "-alias", "ca", "-file",
                    str(tmp_path / "ca.pem")], check=True, capture_output=True, timeout=60)
    config = make_config(FAKE_DOVEADM, director(url))

    untrusted = await run_job(make_context(), config)
    assert "CERTIFICATE_VERIFY_FAILED" in entry_of(untrusted.details, "move user")["errors"][0]
    assert handler.requests == []

    trusted = await run_job(make_context(), _with_trust_store(config, store, "storepw"))
    assert entry_of(trusted.details, "move user")["success"]
    assert len(handler.requests) == 2

    wrong = await run_job(make_context(), _with_trust_store(config, store, "nope"))
    assert not wrong.success
    assert "trust-store" in wrong.details[0]["configuration"]["errors"][0]
