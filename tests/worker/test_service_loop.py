"""The worker loop in this process against a real SQLite migration database: control commands,
maxThreads, cancel, drain, reclaim after an expired heartbeat, and the backend's stored state.

The jobs are the simulator type with a short fixed sleep; the refresh interval is 0.2 s. The same
rules run against real worker processes and all three databases in test_queue_acceptance.py and
test_control_http.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from dmf.migration_db.models import BackendCommand, BackendStatus, JobStatus
from dmf.migration_db.records import JobFilter, NewJob
from dmf.migration_db.repository import MigrationRepository
from dmf.service.metrics import ServiceMetrics
from dmf.service.worker_config import StateType, load_worker_config
from dmf.worker.execution import JobExecutor
from dmf.worker.poller import DatabaseBackendLink, DatabaseFeed
from dmf.worker.service import HEARTBEAT_TIMEOUT_INTERVALS, WorkerService
from dmf.worker.simulator import SimulatedFeed

REFRESH = 0.2
# A change must show within one refresh interval; this covers the database round trips on a
# loaded test machine.
SLACK = 0.3
TARGET = "t"  # the target of the `repository` fixture (conftest.py)


def worker(repository: MigrationRepository, memberid: str = "1", *, max_threads: int = 2,
           sleep_ms: int = 300, termination_ms: int = 5000,
           initial: BackendStatus = BackendStatus.STARTED,
           state_type: StateType = StateType.DATABASE) -> WorkerService:
    config = load_worker_config([], {
        "DMF_WORKER_TYPE": "simulator",
        "DMF_WORKER_SIMULATOR_MIN_MS": str(sleep_ms),
        "DMF_WORKER_SIMULATOR_MAX_MS": str(sleep_ms),
    })
    metrics = ServiceMetrics(CollectorRegistry())
    link = DatabaseBackendLink(repository, target=TARGET, memberid=memberid,
                               initial_state=initial, max_threads=max_threads,
                               state_type=state_type)
    feed = DatabaseFeed(repository, backend_name=link.name, target=TARGET, sources=["default"],
                        heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_INTERVALS * REFRESH)
    return WorkerService(link=link, feed=feed, run_job=JobExecutor(config, metrics, _no_keys),
                         metrics=metrics, refresh_seconds=REFRESH, cache_size=50,
                         termination_timeout_seconds=termination_ms / 1000)


def _no_keys(job):  # these jobs carry no password
    assert job.password is None


def submit(repository: MigrationRepository, count: int, users: int | None = None) -> None:
    users = users or count
    repository.submit_jobs([NewJob(target=TARGET, source="default", uid=f"user{i % users}")
                            for i in range(count)])


def count(repository: MigrationRepository, *statuses: JobStatus) -> int:
    return repository.count_jobs(JobFilter(target=TARGET, statuses=list(statuses)))


async def eventually(check: Callable[[], bool], within: float, what: str) -> float:
    """Seconds until `check()` held; fails after `within` seconds."""
    start = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - start > within:
            pytest.fail(f"not within {within:.2f} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_pause_start_max_threads_stop_take_effect_within_one_refresh(repository):
    submit(repository, 200)
    service = worker(repository, max_threads=2, sleep_ms=400)
    run = asyncio.create_task(service.run())
    await eventually(lambda: count(repository, JobStatus.RUNNING) == 2, 2, "2 jobs running")

    repository.update_backend("t/1", max_threads=5)
    await eventually(lambda: count(repository, JobStatus.RUNNING) == 5, REFRESH + SLACK,
                     "maxThreads 5 honoured")

    repository.update_backend("t/1", command=BackendCommand.PAUSE)
    await eventually(lambda: repository.get_backend("t/1").status is BackendStatus.PAUSED,
                     REFRESH + SLACK, "PAUSED reported")
    started = count(repository, JobStatus.RUNNING, JobStatus.SUCCESS)
    # running jobs finish; nothing new starts
    await eventually(lambda: count(repository, JobStatus.RUNNING) == 0, 0.4 + SLACK,
                     "running jobs finished while paused")
    await asyncio.sleep(2 * REFRESH)
    assert count(repository, JobStatus.RUNNING, JobStatus.SUCCESS) == started
    backend = repository.get_backend("t/1")
    assert (backend.status, backend.threads) == (BackendStatus.PAUSED, 0)

    repository.update_backend("t/1", command=BackendCommand.START)
    await eventually(lambda: count(repository, JobStatus.RUNNING) == 5, REFRESH + SLACK,
                     "START resumed claiming")

    repository.update_backend("t/1", max_threads=1)
    await eventually(lambda: count(repository, JobStatus.RUNNING) <= 1, 0.4 + REFRESH + SLACK,
                     "maxThreads 1 honoured once the running jobs ended")

    repository.update_backend("t/1", command=BackendCommand.STOP)
    abandoned = await asyncio.wait_for(run, REFRESH + 0.4 + SLACK)
    assert abandoned == []
    assert count(repository, JobStatus.RUNNING) == 0
    assert repository.get_backend("t/1").status is BackendStatus.STOPPED
    assert repository.get_backend("t/1").command is None


async def test_initial_state_stopped_waits_for_start(repository):
    submit(repository, 5)
    service = worker(repository, initial=BackendStatus.STOPPED, sleep_ms=10)
    run = asyncio.create_task(service.run())
    await asyncio.sleep(3 * REFRESH)
    assert count(repository, JobStatus.QUEUED) == 5
    assert repository.get_backend("t/1").status is BackendStatus.STOPPED
    repository.update_backend("t/1", command=BackendCommand.START)
    await eventually(lambda: count(repository, JobStatus.SUCCESS) == 5, REFRESH + 1,
                     "all jobs done after START")
    service.request_stop()
    assert await run == []


async def test_one_user_never_runs_twice_and_slots_refill_without_waiting(repository):
    submit(repository, 12, users=3)
    service = worker(repository, max_threads=6, sleep_ms=50)
    run = asyncio.create_task(service.run())
    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, count(repository, JobStatus.RUNNING))
        return count(repository, JobStatus.SUCCESS) == 12

    # 4 jobs per user in a row at 50 ms each: about 0.2 s when a freed slot is refilled at once
    # instead of at the next refresh (that would take 4 intervals, 0.8 s).
    elapsed = await eventually(done, 3, "12 jobs done")
    service.request_stop()
    await run
    assert peak <= 3
    assert elapsed < 4 * REFRESH
    jobs = repository.list_jobs(JobFilter(target=TARGET), limit=100)
    by_user: dict[str, list[tuple]] = {}
    for job in jobs:
        run = job.details[-1]["simulator"]  # the run's own record of when it worked
        by_user.setdefault(job.uid, []).append((run["startedAt"], run["finishedAt"]))
    for intervals in by_user.values():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert end <= start


async def test_cancel_of_a_running_job(repository):
    submit(repository, 1)
    service = worker(repository, sleep_ms=10_000)
    run = asyncio.create_task(service.run())
    await eventually(lambda: count(repository, JobStatus.RUNNING) == 1, 2, "job running")
    job_id = repository.list_jobs(JobFilter(target=TARGET), limit=1)[0].id
    repository.cancel_job(job_id)
    await eventually(lambda: repository.get_job(job_id).status is JobStatus.CANCELLED,
                     REFRESH + SLACK, "running job cancelled")
    assert repository.get_job(job_id).details[-1]["worker"]["success"] is False
    service.request_stop()
    assert await run == []


async def test_stop_abandons_after_timeout_and_another_worker_takes_the_jobs_back(repository):
    submit(repository, 2)
    first = worker(repository, "1", sleep_ms=5_000, termination_ms=300)
    run = asyncio.create_task(first.run())
    await eventually(lambda: count(repository, JobStatus.RUNNING) == 2, 2, "2 jobs running")
    running = sorted(job.id for job in repository.list_jobs(JobFilter(target=TARGET), limit=10))
    began = time.monotonic()
    first.request_stop()
    assert await run == running  # both still running at the termination timeout
    assert time.monotonic() - began < 0.3 + SLACK + REFRESH
    assert count(repository, JobStatus.RUNNING) == 2  # left for the heartbeat to expire

    second = worker(repository, "2", sleep_ms=10)
    run = asyncio.create_task(second.run())
    await eventually(lambda: count(repository, JobStatus.SUCCESS) == 2,
                     (2 * HEARTBEAT_TIMEOUT_INTERVALS + 1) * REFRESH + SLACK,
                     "jobs reclaimed and run by the second worker")
    second.request_stop()
    await run
    for job in repository.list_jobs(JobFilter(target=TARGET), limit=10):
        assert job.backend == "t/2"
        assert job.attempts == 2
        assert [next(iter(entry)) for entry in job.details] == ["reclaimed", "simulator"]
        assert job.details[0]["reclaimed"]["backend"] == "t/1"


async def test_running_jobs_keep_their_heartbeat_while_stopping(repository):
    """A drain longer than the heartbeat timeout must not let another worker steal the jobs."""
    submit(repository, 1)
    first = worker(repository, "1", sleep_ms=1_500, termination_ms=5_000)
    run = asyncio.create_task(first.run())
    await eventually(lambda: count(repository, JobStatus.RUNNING) == 1, 2, "job running")
    first.request_stop()
    second = worker(repository, "2", sleep_ms=10)
    run2 = asyncio.create_task(second.run())
    assert await run == []
    second.request_stop()
    await run2
    job = repository.list_jobs(JobFilter(target=TARGET), limit=1)[0]
    assert (job.status, job.backend, job.attempts) == (JobStatus.SUCCESS, "t/1", 1)


@pytest.mark.parametrize(("state_type", "expected"), [
    (StateType.DATABASE, (BackendStatus.STOPPED, 7)),
    (StateType.CONFIG, (BackendStatus.STARTED, 3)),
])
async def test_stored_backend_state_wins_only_with_state_type_database(repository, state_type,
                                                                       expected):
    repository.register_backend(TARGET, "1", BackendStatus.STOPPED, 7)
    service = worker(repository, max_threads=3, initial=BackendStatus.STARTED,
                     state_type=state_type)
    run = asyncio.create_task(service.run())
    await eventually(lambda: service.max_threads != 0, 2, "registered")
    assert (service.status, service.max_threads) == expected
    backend = repository.get_backend("t/1")
    assert (backend.initial_state, backend.max_threads) == expected
    service.request_stop()
    await run


async def test_simulator_poller_invents_jobs_without_touching_the_queue(repository):
    """`jobs.poller.type: simulator`: up to max-jobs invented jobs per poll, run and counted,
    while the queue's real jobs stay untouched."""
    submit(repository, 3)
    config = load_worker_config([], {"DMF_WORKER_TYPE": "simulator",
                                     "DMF_WORKER_SIMULATOR_MIN_MS": "10",
                                     "DMF_WORKER_SIMULATOR_MAX_MS": "10"})
    settings = config.dmf.worker.jobs.poller.simulator.model_copy(update={"max_jobs": 2})
    feed = SimulatedFeed(settings, TARGET, "default")
    metrics = ServiceMetrics(CollectorRegistry())
    link = DatabaseBackendLink(repository, target=TARGET, memberid="1",
                               initial_state=BackendStatus.STARTED, max_threads=4,
                               state_type=StateType.DATABASE)
    service = WorkerService(link=link, feed=feed, run_job=JobExecutor(config, metrics, _no_keys),
                            metrics=metrics, refresh_seconds=REFRESH, cache_size=50,
                            termination_timeout_seconds=1)
    run = asyncio.create_task(service.run())
    await asyncio.sleep(5 * REFRESH)
    service.request_stop()
    await run
    # at most max-jobs per poll: one poll per refresh, plus early refills while it finds work
    assert feed.finished[JobStatus.SUCCESS] >= 5
    assert set(feed.finished) == {JobStatus.SUCCESS}
    assert count(repository, JobStatus.QUEUED) == 3
