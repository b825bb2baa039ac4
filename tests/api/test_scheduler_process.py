"""`dmf scheduler -c scheduler.yml` as a real process: TLS from a PKCS12 keystore, the admin
password from the environment, jobs submitted with `dmf jobs` over HTTPS, SIGTERM to stop."""

from __future__ import annotations

import gc
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trustme
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)

from dmf.cli.main import main
from dmf.migration_db.repository import MigrationRepository
from tests.api.conftest import ADMIN, write_key
from tests.fixtures.databases import free_port

KEYSTORE_PASSWORD = "verysecretpassword"


def write_keystore(authority: trustme.CA, path: Path) -> None:
    leaf = authority.issue_cert("localhost", "127.0.0.1")
    key = load_pem_private_key(leaf.private_key_pem.bytes(), None)
    chain = [x509.load_pem_x509_certificate(blob.bytes()) for blob in leaf.cert_chain_pems]
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"worker", key, chain[0], chain[1:], BestAvailableEncryption(KEYSTORE_PASSWORD.encode())))


@pytest.mark.slow
def test_scheduler_serves_https_and_the_cli_drives_it(tmp_path):
    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    write_keystore(authority, tmp_path / "keystore.p12")
    key_file, _ = write_key(tmp_path)
    port = free_port()
    database = tmp_path / "migration.db"
    config = tmp_path / "scheduler.yml"
    config.write_text(yaml.safe_dump({
        "micronaut": {"server": {"host": "127.0.0.1"},
                      "ssl": {"enabled": True, "port": port,
                              "key-store": {"path": f"file:{tmp_path}/keystore.p12",
                                            "type": "PKCS12"}}},
        "http": {"admin": {"username": ADMIN[0]}},
        "datasources": {"default": {"url": f"sqlite:///{database}"}},
        "dmf": {"scheduler": {"crypto": {"key-name": "key1", "file": str(key_file)}}},
    }))
    # Secrets come from the environment, never argv.
    env = {**os.environ, "HTTP_ADMIN_PASSWORD": ADMIN[1],
           "MICRONAUT_SSL_KEY_STORE_PASSWORD": KEYSTORE_PASSWORD}
    server = subprocess.Popen([sys.executable, "-m", "dmf", "scheduler", "-c", str(config)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        base = f"https://localhost:{port}"
        trust = ssl.create_default_context(cafile=ca_file)
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/health", verify=trust)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "scheduler did not come up"
                time.sleep(0.1)
        assert health.json() == {"status": "UP"}
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode()
        assert ADMIN[1] not in cmdline and KEYSTORE_PASSWORD not in cmdline

        with httpx.Client(base_url=f"{base}/dmf/admin/api/v2", auth=ADMIN,
                          verify=trust) as client:
            assert client.post("/targets", json={"name": "cloud"}).status_code == 201
            assert client.post("/sources", json={"name": "POD_1"}).status_code == 201
        cli_env = {**os.environ, "DMF_SCHEDULER_URL": base, "DMF_SCHEDULER_USER": ADMIN[0],
                   "DMF_SCHEDULER_PASSWORD": ADMIN[1], "DMF_SCHEDULER_CACERT": str(ca_file)}
        submitted = subprocess.run(
            [sys.executable, "-m", "dmf", "jobs", "submit", "-t", "cloud", "-u", "alice",
             "--source", "POD_1"], env=cli_env, capture_output=True, text=True, timeout=60)
        assert submitted.returncode == 0, submitted.stderr
        job_id = int(submitted.stdout)
        untrusted = subprocess.run(
            [sys.executable, "-m", "dmf", "jobs", "show", str(job_id)],
            env={**cli_env, "DMF_SCHEDULER_CACERT": ""}, capture_output=True, text=True,
            timeout=60)
        assert untrusted.returncode == 75 and "ConnectError" in untrusted.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output  # a supervisor's stop is a clean exit
    assert "Finished server process" in output
    assert ADMIN[1] not in output and KEYSTORE_PASSWORD not in output
    repository = MigrationRepository.connect(f"sqlite:///{database}")
    try:
        assert repository.get_job(job_id).uid == "alice"
    finally:
        repository.close()


@pytest.mark.parametrize(("document", "message"), [
    ({"dmf": {"scheduler": {"crypto": {"key-name": "key1", "file": "/nonexistent/key1"}}}},
     "storage key 'key1'"),
    ({"micronaut": {"ssl": {"enabled": True}}}, "micronaut.ssl.key-store.path"),
    ({"micronaut": {"security": {"ip-patterns": ["192.168.*"]}}},
     "micronaut.security.ip-patterns"),
    ({"http": {"admin": {"user": "admin"}}}, "http.admin.user"),
])
def test_bad_configuration_stops_the_scheduler_with_exit_78(tmp_path, capsys, document,
                                                          message):
    config = tmp_path / "scheduler.yml"
    config.write_text(yaml.safe_dump({
        "datasources": {"default": {"url": f"sqlite:///{tmp_path / 'migration.db'}"}},
        "micronaut": {"server": {"host": "127.0.0.1", "port": free_port()}}} | document))
    # In-process (the exit code comes from the same `guarded` path as in a real process).
    with pytest.raises(SystemExit) as exited:
        main(["scheduler", "-c", str(config)])
    gc.unfreeze()  # main freezes for a process about to end; this one goes on
    stderr = capsys.readouterr().err
    assert exited.value.code == 78, stderr
    assert message in stderr.splitlines()[-1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_scheduler_with_exit_0(tmp_path, signum):
    """uvicorn alone re-raises the signal after its graceful shutdown (status -15), which a
    supervisor records as a failed service."""
    port = free_port()
    config = tmp_path / "scheduler.yml"
    config.write_text(yaml.safe_dump({
        "datasources": {"default": {"url": f"sqlite:///{tmp_path / 'migration.db'}"}},
        "micronaut": {"server": {"host": "127.0.0.1", "port": port}}}))
    server = subprocess.Popen([sys.executable, "-m", "dmf", "scheduler", "-c", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "scheduler did not come up"
                time.sleep(0.05)
    finally:
        server.send_signal(signum)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Finished server process" in output
