"""PAUSE / START / STOP and maxThreads through the scheduler's REST API, with real HTTP PATCH
requests, against a running `dmf scheduler` and a running `dmf worker` sharing one migration
database: each change shows within one refresh interval (500 ms here)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
import yaml

from dmf.migration_db.models import JobStatus
from dmf.migration_db.records import JobFilter, NewJob
from dmf.migration_db.repository import MigrationRepository
from tests.fixtures.databases import free_port
from tests.worker.worker_processes import ADMIN, WorkerProcess

REFRESH = 0.5
SLACK = 0.5  # database and HTTP round trips on a loaded machine
BACKENDS = "/dmf/admin/api/v2/targets/t/backends"


@pytest.fixture
def scheduler(tmp_path):
    """A `dmf scheduler` on a free port; yields an authenticated httpx client for it."""
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'migration.db'}"
    config = tmp_path / "scheduler.yml"
    config.write_text(yaml.safe_dump({
        "micronaut": {"ssl": {"enabled": False},
                      "server": {"host": "127.0.0.1", "port": port}},
        "http": {"admin": {"username": ADMIN[0], "password": ADMIN[1]}},
        "datasources": {"default": {"url": db_url}},
    }), encoding="utf-8")
    log_path = tmp_path / "scheduler.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "dmf", "scheduler", "-c", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=ADMIN, timeout=5)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield client, db_url
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def within(seconds: float, check: Callable[[], bool], what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start <= seconds, f"not within {seconds:.2f} s: {what}"
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.mark.slow
def test_patch_commands_reach_a_running_worker(scheduler, tmp_path):
    client, db_url = scheduler
    repository = MigrationRepository.connect(db_url)
    repository.create_target("t")
    repository.create_source("default")
    repository.submit_jobs([NewJob(target="t", source="default", uid=f"u{n}")
                            for n in range(300)])
    worker = WorkerProcess(tmp_path, db_url, "1", simulator={"min-ms": 400, "max-ms": 400},
                           jobs={"max": 2, "cache": {"refresh": f"{int(REFRESH * 1000)}ms"}})
    worker.start()

    def backend() -> dict:
        response = client.get(f"{BACKENDS}/t%2F1")
        return response.json() if response.status_code == 200 else {}

    def running() -> int:
        return repository.count_jobs(JobFilter(target="t", statuses=[JobStatus.RUNNING]))

    def started() -> int:
        return repository.count_jobs(JobFilter(
            target="t", statuses=[JobStatus.RUNNING, JobStatus.SUCCESS]))

    def patch(**body) -> None:
        response = client.patch(BACKENDS, json={"name": "t/1", **body})
        assert response.status_code == 200, response.text

    try:
        worker.wait_ready()
        within(5, lambda: backend().get("status") == 1 and running() == 2, "worker STARTED")
        assert backend()["maxThreads"] == 2

        patch(maxThreads=5)
        within(REFRESH + SLACK, lambda: running() == 5, "maxThreads 5")

        patch(command="PAUSE")
        within(REFRESH + SLACK, lambda: backend()["status"] == 2, "PAUSED")
        paused_at = started()
        within(0.4 + SLACK, lambda: running() == 0, "running jobs end while PAUSED")
        within(REFRESH + SLACK, lambda: backend()["threads"] == 0, "0 threads reported")
        time.sleep(2 * REFRESH)
        assert started() == paused_at  # nothing claimed while paused

        patch(command="START")
        within(REFRESH + SLACK, lambda: running() > 0, "claiming after START")
        assert backend()["status"] == 1

        patch(maxThreads=1)
        within(0.4 + REFRESH + SLACK, lambda: running() <= 1, "maxThreads 1")

        patch(command="STOP")
        worker.wait(REFRESH + 0.4 + SLACK + 2)  # + interpreter exit
        assert worker.process.returncode == 0, worker.log()
        assert backend()["status"] == 0
        assert backend()["threads"] == 0
        assert running() == 0
    finally:
        worker.stop()
        repository.close()
