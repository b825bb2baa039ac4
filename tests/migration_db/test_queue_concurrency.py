"""The queue under real concurrency: several worker processes claiming from one database."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import statistics
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import pytest

from dmf.migration_db.models import JobStatus
from dmf.migration_db.records import JobFilter, JobRecord, NewJob
from dmf.migration_db.repository import MigrationRepository

JOBS = 2000
USERS = 500
WORKERS = 4
PRIORITIES = 5
CLAIM_BATCH = 8


def _work(url: str, backend: str, start_at: float) -> list[tuple[int, str, int, float, float]]:
    """One worker: claim, 'run' briefly, finish, until nothing is queued. Returns
    (job id, uid, priority, monotonic time after the claim, monotonic time before finish)."""
    repository = MigrationRepository.connect(url)
    runs: list[tuple[int, str, int, float, float]] = []
    time.sleep(max(0.0, start_at - time.time()))
    try:
        while True:
            claimed = repository.claim(backend, "cloud", ["POD_1"], CLAIM_BATCH)
            claimed_at = time.monotonic()
            if not claimed:
                if repository.count_jobs(JobFilter(statuses=[JobStatus.QUEUED])) == 0:
                    return runs
                time.sleep(0.002)
                continue
            for item in claimed:
                time.sleep(0.0005)
                runs.append((item.job.id, item.job.uid, item.job.priority, claimed_at,
                             time.monotonic()))
                assert repository.finish(item.job.id, backend, JobStatus.SUCCESS,
                                         [{"noop": {"success": True}}])
    finally:
        repository.close()


@pytest.mark.slow
def test_many_workers_claim_each_job_once_one_user_at_a_time(
        migration_repository: MigrationRepository, db_url: str) -> None:
    repo = migration_repository
    repo.create_target("cloud")
    repo.create_source("POD_1")
    rng = random.Random(3)
    jobs = [NewJob("cloud", "POD_1", f"user{rng.randrange(USERS)}",
                   priority=rng.randrange(PRIORITIES)) for _ in range(JOBS)]
    ids = repo.submit_jobs(jobs)
    start_at = time.time() + 1.5
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_work, db_url, f"cloud/{n}", start_at) for n in range(WORKERS)]
        runs = [run for future in futures for run in future.result(timeout=300)]

    # Each job ran exactly once, and the database agrees.
    assert sorted(run[0] for run in runs) == sorted(ids)
    assert repo.count_jobs(JobFilter(statuses=[JobStatus.SUCCESS])) == JOBS
    assert {job.attempts for job in repo.list_jobs(limit=JOBS)} == {1}
    assert sum(1 for future in futures if future.result()) == WORKERS  # all took part

    # Never two runs of one user overlapping in time.
    by_user: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, uid, _, started, ended in runs:
        by_user[uid].append((started, ended))
    for intervals in by_user.values():
        intervals.sort()
        for (_, previous_end), (next_start, _) in zip(intervals, intervals[1:], strict=False):
            assert next_start > previous_end

    # And by the times stored: each job of a user started after the previous one finished.
    stored: dict[str, list[JobRecord]] = defaultdict(list)
    for job in repo.list_jobs(limit=JOBS):
        stored[job.uid].append(job)
    for user_jobs in stored.values():
        user_jobs.sort(key=lambda job: job.started)
        for previous, job in zip(user_jobs, user_jobs[1:], strict=False):
            assert job.started >= previous.finished, (previous, job)

    # Priorities respected: higher priorities are claimed earlier (median claim rank).
    order = sorted(runs, key=lambda run: run[3])
    ranks: dict[int, list[int]] = defaultdict(list)
    for rank, run in enumerate(order):
        ranks[run[2]].append(rank)
    medians = [statistics.median(ranks[priority]) for priority in reversed(range(PRIORITIES))]
    assert medians == sorted(medians), medians


def _claim_and_hang(url: str, ready: multiprocessing.synchronize.Event) -> None:
    repository = MigrationRepository.connect(url)
    repository.claim("cloud/doomed", "cloud", ["POD_1"], 5)
    ready.set()
    time.sleep(60)


def test_jobs_of_a_killed_worker_are_reclaimed(migration_repository: MigrationRepository,
                                               db_url: str) -> None:
    repo = migration_repository
    repo.create_target("cloud")
    repo.create_source("POD_1")
    ids = repo.submit_jobs([NewJob("cloud", "POD_1", f"u{i}") for i in range(8)])
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    doomed = context.Process(target=_claim_and_hang, args=(db_url, ready))
    doomed.start()
    assert ready.wait(30)
    os.kill(doomed.pid, signal.SIGKILL)  # type: ignore[arg-type]
    doomed.join()
    lost = [job.id for job in repo.list_jobs(JobFilter(backend="cloud/doomed"))]
    assert len(lost) == 5
    assert repo.reclaim_expired(30) == []  # not expired yet
    time.sleep(1.1)
    assert sorted(repo.reclaim_expired(1.0)) == sorted(lost)
    claimed = repo.claim("cloud/2", "cloud", ["POD_1"], 10)
    assert sorted(c.job.id for c in claimed) == sorted(ids)
    for item in claimed:
        assert repo.finish(item.job.id, "cloud/2", JobStatus.SUCCESS, [])
    for job_id in lost:
        job = repo.get_job(job_id)
        assert job.attempts == 2
        assert job.details[0]["reclaimed"]["backend"] == "cloud/doomed"
