"""The simulator: a job type that only sleeps, and a job feed that invents jobs (seed 6.1.2 and
`dmf.worker.jobs.poller.type: simulator`). Both exist to exercise the worker's round trip without
a migration command, or without a queue.

The seed's simulator sleeps 1-10 s; `dmf.worker.simulator.min-ms` / `max-ms` (dmf's addition)
set that range so tests and demos run fast.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
import logging
import random
import time

from dmf.migration_db.models import JobPhase, JobStatus
from dmf.migration_db.records import ClaimedJob, JobRecord
from dmf.service.worker_config import PollerSimulatorSettings, SimulatorSettings
from dmf.worker.job_context import JobContext, JobOutcome

log = logging.getLogger(__name__)

STEP = "simulator"


async def simulate_job(context: JobContext, settings: SimulatorSettings) -> JobOutcome:
    """Sleep a random time within the configured range, then succeed. The details give the
    wall-clock start and end of the "work" (UTC, microseconds), the job's own record of when it
    ran, as a command's log would."""
    sleep_ms = random.randint(settings.min_ms, settings.max_ms)
    started_at = _utc_now()
    started = time.monotonic()
    await asyncio.sleep(sleep_ms / 1000)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    return JobOutcome(success=True, details=[{STEP: {
        "success": True, "sleepMs": sleep_ms, "elapsedMs": elapsed_ms,
        "startedAt": started_at, "finishedAt": _utc_now()}}])


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class SimulatedFeed:
    """Hands out up to `max-jobs` invented jobs per poll, after a random wait of up to
    `max-wait-ms`; nothing is read from or written to the migration database."""

    def __init__(self, settings: PollerSimulatorSettings, target: str, source: str) -> None:
        self._settings = settings
        self._target = target
        self._source = source
        self._ids = itertools.count(1)
        self.finished: collections.Counter[JobStatus] = collections.Counter()

    async def candidates(self, limit: int) -> list[int]:
        return [next(self._ids) for _ in range(min(limit, self._settings.max_jobs))]

    async def claim(self, candidates: list[int], limit: int) -> list[ClaimedJob]:
        if self._settings.max_wait_ms:
            await asyncio.sleep(random.randint(0, self._settings.max_wait_ms) / 1000)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return [ClaimedJob(job=self._job(job_id, now), source_host=None)
                for job_id in candidates[:limit]]

    def _job(self, job_id: int, now: dt.datetime) -> JobRecord:
        uid = f"simulated-{job_id}"
        return JobRecord(
            id=job_id, target=self._target, source=self._source, uid=uid, ruid=uid,
            email=f"{uid}@simulator.invalid", source_host=None, password=None,
            imapcoptions=None, exclude=None, phase=JobPhase.PRE_SYNC, priority=0,
            status=JobStatus.RUNNING, submitted=now, started=now, finished=None, attempts=1,
            backend=None, heartbeat=now, cancel_requested=False, details=[])

    async def finish(self, job_id: int, status: JobStatus,
                     details: list[dict[str, object]]) -> None:
        self.finished[status] += 1
        log.info("simulated job %s finished: %s", job_id, status.value)

    async def reclaim_expired(self) -> None:
        """Invented jobs have no rows that could be orphaned."""

    async def jobs_to_stop(self, job_ids: list[int]) -> set[int]:
        return set()  # nobody can cancel an invented job
