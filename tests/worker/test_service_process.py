"""A real `dmf worker` process: its HTTP endpoints, SIGTERM drain, idle CPU, storage keys and
configuration errors."""

from __future__ import annotations

import base64
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from dmf.migration_db.crypto import wrap
from dmf.migration_db.models import JobStatus
from dmf.migration_db.records import JobFilter, NewJob
from dmf.migration_db.repository import MigrationRepository
from tests.fixtures.polling import wait_for
from tests.worker.worker_processes import ADMIN, WorkerProcess


def db_url_of(repository: MigrationRepository) -> str:
    return repository.engine.url.render_as_string(hide_password=False)


def test_endpoints_and_metrics_of_a_running_worker(repository, tmp_path):
    repository.submit_jobs([NewJob(target="t", source="default", uid=f"u{n}")
                            for n in range(3)])
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1").start()
    try:
        worker.wait_ready()
        wait_for(lambda: repository.count_jobs(JobFilter(statuses=[JobStatus.SUCCESS])) == 3,
                 10, "jobs done")
        anonymous = httpx.get(f"{worker.base_url}/health")
        assert anonymous.json() == {"status": "UP"}
        detailed = httpx.get(f"{worker.base_url}/health", auth=ADMIN).json()
        assert detailed["details"]["service"]["status"] == "UP"
        assert detailed["details"]["jdbc"]["status"] == "UP"
        assert httpx.get(f"{worker.base_url}/prometheus").status_code == 401
        text = httpx.get(f"{worker.base_url}/prometheus", auth=ADMIN).text
        assert "dmf_jobs_succeeded_total 3.0" in text
        assert "dmf_claim_latency_seconds_count" in text
        assert "dmf_executor_pool_max 10.0" in text
        names = httpx.get(f"{worker.base_url}/metrics", auth=ADMIN).json()["names"]
        assert "dmf.jobs.running" in names
    finally:
        worker.stop()


def test_sigterm_drains_running_jobs_and_reports_down_meanwhile(repository, tmp_path):
    repository.submit_jobs([NewJob(target="t", source="default", uid="u1")])
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1",
                           simulator={"min-ms": 2000, "max-ms": 2000}).start()
    try:
        worker.wait_ready()
        wait_for(lambda: repository.count_jobs(JobFilter(statuses=[JobStatus.RUNNING])) == 1,
                 10, "job running")
        worker.signal(signal.SIGTERM)
        wait_for(lambda: httpx.get(f"{worker.base_url}/health").status_code == 503, 1,
                 "health DOWN while stopping")
        assert repository.count_jobs(JobFilter(statuses=[JobStatus.RUNNING])) == 1
        assert worker.wait(10) == 0, worker.log()
        job = repository.list_jobs(limit=1)[0]
        assert job.status is JobStatus.SUCCESS
        assert repository.get_backend("t/1").status == 0
    finally:
        worker.stop()


IDLE_WINDOW = 10


@pytest.mark.slow
def test_idle_worker_uses_under_one_percent_cpu(repository, tmp_path):
    """Refresh every 2 s (the seed's default is 5 s): the heartbeat, the cache refill and the
    reclaim still run in the window, and nothing else wakes the worker."""
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1",
                           jobs={"cache": {"refresh": "2s"}}).start()
    try:
        worker.wait_ready()
        time.sleep(1)
        before = worker.cpu_seconds()
        time.sleep(IDLE_WINDOW)  # CPU time comes in 10 ms ticks: 1% of 10 s is 10 of them
        used = worker.cpu_seconds() - before
        print(f"\nidle worker: {used:.3f} s of CPU in {IDLE_WINDOW} s ({used / IDLE_WINDOW:.2%})")
        assert used / IDLE_WINDOW < 0.01, f"{used:.3f} s of CPU in {IDLE_WINDOW} s"
    finally:
        worker.stop()


def test_a_job_whose_key_is_missing_or_wrong_fails_alone(repository, tmp_path):
    key = os.urandom(32)
    key_file = tmp_path / "key1.key"
    key_file.write_text(base64.b64encode(key).decode())
    wrong_file = tmp_path / "other.key"
    wrong_file.write_text(base64.b64encode(os.urandom(32)).decode())
    jobs = []
    for uid, key_name in (("good", "key1"), ("nokey", "key9"), ("wrongkey", "key2")):
        password = wrap("s3cr3t-pw", key_name, key, target="t", source="default", uid=uid)
        jobs.append(NewJob(target="t", source="default", uid=uid, password=password))
    jobs.append(NewJob(target="t", source="default", uid="plain"))
    repository.submit_jobs(jobs)
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1", crypto={"storageKeys": {
        "key1": {"file": str(key_file)}, "key2": {"file": str(wrong_file)}}}).start()
    try:
        worker.wait_ready()
        wait_for(lambda: repository.count_jobs(JobFilter(
            statuses=[JobStatus.SUCCESS, JobStatus.FAILURE])) == 4, 10, "all jobs ended")
    finally:
        worker.stop()
    by_uid = {job.uid: job for job in repository.list_jobs(limit=10)}
    assert by_uid["good"].status is JobStatus.SUCCESS
    assert by_uid["plain"].status is JobStatus.SUCCESS
    for uid, key_name in (("nokey", "key9"), ("wrongkey", "key2")):
        job = by_uid[uid]
        assert job.status is JobStatus.FAILURE
        errors = job.details[-1]["prepare-job"]["errors"]
        assert key_name in errors[0]
    assert "s3cr3t-pw" not in worker.log()


@pytest.mark.parametrize(("settings", "yaml_text", "message"), [
    ((), "dmf:\n  worker:\n    jobs:\n      max: ten\n",
     "Error: dmf.worker.jobs.max: expected an integer, got 'ten'"),
    (("-o", "dmf.worker.jobs.max=ten"), "dmf:\n  worker:\n    jobs:\n      max: 4\n",
     "Error: dmf.worker.jobs.max: expected an integer, got 'ten'"),
    ((), "dmf:\n  worker:\n    jobz: 1\n", "Error: dmf.worker.jobz: unknown key"),
    (("-o", "dmf.worker.jobs.maxx=4"), "", "Error: -o dmf.worker.jobs.maxx: unknown key"),
    ((), "datasources:\n  default:\n    url: sqlite:////nonexistent-dir/x.db\n"
     "dmf:\n  worker:\n    identity:\n      memberid: 1\n",
     "Error: sqlite database directory does not exist: /nonexistent-dir"),
    ((), "dmf:\n  worker:\n    identity:\n      target: t\n",
     "Error: dmf.worker.identity.memberid: required: the worker registers as backend "
     "<target>/<memberid>"),
])
def test_configuration_errors_exit_78_naming_the_key(tmp_path, settings, yaml_text, message):
    config = tmp_path / "bad.yml"
    config.write_text(yaml_text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "dmf", *settings, "worker", "-c", str(config)],
                            capture_output=True, text=True, timeout=30,
                            env={k: v for k, v in os.environ.items()
                                 if not k.startswith(("DMF_", "DATASOURCES_"))})
    assert result.returncode == 78, result.stderr
    assert result.stderr.strip().splitlines() == [message]


def test_tls_serves_on_the_ssl_port(repository, tmp_path):
    """With `micronaut.ssl.enabled` the endpoints are HTTPS on `micronaut.ssl.port`."""
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    pem = tmp_path / "worker.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1")
    worker.extend_config({"micronaut": {"ssl": {
        "enabled": True, "port": worker.port,
        "key-store": {"path": f"file:{pem}", "type": "PEM"}}}})
    worker.start()
    url = f"https://127.0.0.1:{worker.port}/health"
    trust = ssl.create_default_context(cafile=str(ca_file))
    try:
        deadline = time.monotonic() + 20
        while True:
            assert worker.process.poll() is None, worker.log()
            try:
                response = httpx.get(url, verify=trust, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.05)
        assert response.json() == {"status": "UP"}
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{worker.port}/health", timeout=1)
    finally:
        worker.stop()


def test_port_in_use_exits_78_naming_the_key(repository, tmp_path):
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1")
    with socket.create_server(("127.0.0.1", worker.port)):
        worker.start()
        assert worker.wait(30) == 78
    assert (f"Error: micronaut.server.port: cannot listen on 127.0.0.1:{worker.port}: "
            "Address already in use") in worker.log()


def test_a_worker_restarted_after_kill_takes_its_own_jobs_back(repository, tmp_path):
    repository.submit_jobs([NewJob(target="t", source="default", uid=f"u{n}") for n in (1, 2)])
    fast = {"jobs": {"cache": {"refresh": "250ms"}, "max": 2}}
    first = WorkerProcess(tmp_path, db_url_of(repository), "1",
                          simulator={"min-ms": 60_000, "max-ms": 60_000}, **fast).start()
    try:
        first.wait_ready()
        wait_for(lambda: repository.count_jobs(JobFilter(statuses=[JobStatus.RUNNING])) == 2,
                 10, "jobs running")
        first.signal(signal.SIGKILL)
        first.wait(5)
    finally:
        first.stop()
    again = WorkerProcess(tmp_path, db_url_of(repository), "1",
                          simulator={"min-ms": 10, "max-ms": 10}, **fast).start()
    try:
        again.wait_ready()
        # back in the queue after the heartbeat timeout (3 x 250 ms), at most twice that
        wait_for(lambda: repository.count_jobs(JobFilter(statuses=[JobStatus.SUCCESS])) == 2,
                 5, "the previous run's jobs taken back and run")
        # reporting again at the next heartbeat once they are back
        wait_for(lambda: repository.get_backend("t/1").status == 1, 1, "STARTED reported")
    finally:
        again.stop()
    for job in repository.list_jobs(limit=10):
        assert job.attempts == 2
        assert [next(iter(entry)) for entry in job.details] == ["reclaimed", "simulator"]


def test_jobs_abandoned_at_the_termination_timeout_exit_75_naming_them(repository, tmp_path):
    repository.submit_jobs([NewJob(target="t", source="default", uid="u1")])
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1",
                           simulator={"min-ms": 60_000, "max-ms": 60_000},
                           jobs={"termination": {"timeout": 200}}).start()
    try:
        worker.wait_ready()
        wait_for(lambda: repository.count_jobs(JobFilter(statuses=[JobStatus.RUNNING])) == 1,
                 10, "job running")
        job_id = repository.list_jobs(limit=1)[0].id
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 75, worker.log()
        assert f"abandoned (ids {job_id})" in worker.log()
        assert repository.list_jobs(limit=1)[0].status is JobStatus.RUNNING
    finally:
        worker.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_an_idle_worker_with_exit_0(repository, tmp_path, signum):
    """The worker owns its signals (uvicorn inside it must not re-raise them): a supervisor's
    stop is a clean exit, not death by the signal."""
    worker = WorkerProcess(tmp_path, db_url_of(repository), "1").start()
    try:
        worker.wait_ready()
        worker.signal(signum)
        assert worker.wait(10) == 0, worker.log()
    finally:
        worker.stop()
