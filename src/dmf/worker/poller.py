"""The worker's side of the migration database: its backend row and the job queue.

Every repository call blocks, so each runs in a thread (`asyncio.to_thread`), keeping the loop
free for the running jobs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence

from dmf.migration_db.models import BackendStatus, JobStatus
from dmf.migration_db.records import ClaimedJob, JobFilter
from dmf.migration_db.repository import MigrationRepository
from dmf.service.worker_config import StateType
from dmf.worker.service import Control, Registration

log = logging.getLogger(__name__)

# How many RUNNING jobs of this backend are looked at for orphans: far above any real maxThreads.
ORPHANS_LISTED = 1000


class DatabaseBackendLink:
    """Registers the worker as backend `target/memberid` and carries its heartbeat.

    With `state.type: database` a backend stored by an earlier run keeps its initialState and
    maxThreads (an operator's changes survive restarts, seed 2.2.7); with `config`, the
    configured values are written over them at start.

    A worker restarted after a crash finds jobs of its previous run still RUNNING under its
    name. The repository's `report_backend` refreshes the heartbeat of every RUNNING job of the
    backend, which would keep those orphans RUNNING forever; so until their heartbeat has
    expired and they are back in the queue (any worker's `reclaim_expired`, this one's
    included), the worker reads its row without reporting (its own new jobs keep their
    heartbeat through `DatabaseFeed.jobs_to_stop`).
    """

    def __init__(self, repository: MigrationRepository, *, target: str, memberid: str,
                 initial_state: BackendStatus, max_threads: int, state_type: StateType) -> None:
        self._repository = repository
        self._target = target
        self._memberid = memberid
        self._initial_state = initial_state
        self._max_threads = max_threads
        self._state_type = state_type
        self.name = f"{target}/{memberid}"
        self._registered_at: dt.datetime | None = None
        self._orphans_left = 0

    async def register(self) -> Registration:
        backend = await asyncio.to_thread(
            self._repository.register_backend, self._target, self._memberid,
            self._initial_state, self._max_threads)
        if self._state_type is StateType.CONFIG and (
                backend.initial_state is not self._initial_state
                or backend.max_threads != self._max_threads):
            backend = await asyncio.to_thread(
                self._repository.update_backend, self.name, max_threads=self._max_threads,
                initial_state=self._initial_state)
        self._registered_at = backend.heartbeat
        self._orphans_left = await asyncio.to_thread(self._count_orphans)
        if self._orphans_left:
            log.info("%d job(s) of this worker's previous run are still RUNNING: they go back to "
                     "the queue when their heartbeat expires", self._orphans_left)
        return Registration(initial_state=BackendStatus(backend.initial_state),
                            max_threads=backend.max_threads)

    def _count_orphans(self) -> int:
        """RUNNING jobs under this name that started before this run registered."""
        running = self._repository.list_jobs(
            JobFilter(backend=self.name, statuses=[JobStatus.RUNNING]), limit=ORPHANS_LISTED)
        return sum(1 for job in running
                   if job.started is None or self._registered_at is None
                   or job.started < self._registered_at)

    async def heartbeat(self, status: BackendStatus, running: int) -> Control:
        return await asyncio.to_thread(self._heartbeat, status, running)

    def _heartbeat(self, status: BackendStatus, running: int) -> Control:
        if self._orphans_left:
            self._orphans_left = self._count_orphans()
        if self._orphans_left:
            backend = self._repository.get_backend(self.name)  # see the class docstring
        else:
            backend = self._repository.report_backend(self.name, status, running)
        command = self._repository.take_command(self.name) if backend.command else None
        return Control(command=command, max_threads=backend.max_threads)


class DatabaseFeed:
    """Jobs of the worker's target and sources, from the queue."""

    def __init__(self, repository: MigrationRepository, *, backend_name: str, target: str,
                 sources: Sequence[str], heartbeat_timeout_seconds: float) -> None:
        self._repository = repository
        self._backend_name = backend_name
        self._target = target
        self._sources = tuple(sources)
        self._heartbeat_timeout = heartbeat_timeout_seconds

    async def candidates(self, limit: int) -> list[int]:
        return await asyncio.to_thread(self._repository.peek_queued, self._target,
                                       self._sources, limit)

    async def claim(self, candidates: list[int], limit: int) -> list[ClaimedJob]:
        return await asyncio.to_thread(self._repository.claim, self._backend_name,
                                       self._target, self._sources, limit, candidates)

    async def finish(self, job_id: int, status: JobStatus,
                     details: list[dict[str, object]]) -> None:
        stored = await asyncio.to_thread(self._repository.finish, job_id, self._backend_name,
                                         status, details)
        if not stored:
            log.warning("job %s: finished here, but it was no longer ours (reclaimed after an "
                        "expired heartbeat); this run's result is dropped", job_id)

    async def jobs_to_stop(self, job_ids: list[int]) -> set[int]:
        return await asyncio.to_thread(self._repository.heartbeat_jobs, self._backend_name,
                                       job_ids)

    async def reclaim_expired(self) -> None:
        reclaimed = await asyncio.to_thread(self._repository.reclaim_expired,
                                            self._heartbeat_timeout)
        if reclaimed:
            log.info("put back %d job(s) of workers whose heartbeat expired: %s",
                     len(reclaimed), ", ".join(map(str, reclaimed)))
