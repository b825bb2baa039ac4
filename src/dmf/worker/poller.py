"""The worker's side of the migration database: its backend row and the job queue.

Every repository call blocks, so each runs in a thread (`asyncio.to_thread`), keeping the loop
free for the running jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from dmf.migration_db.models import BackendStatus, JobStatus
from dmf.migration_db.records import ClaimedJob
from dmf.migration_db.repository import MigrationRepository
from dmf.service.worker_config import StateType
from dmf.worker.service import Control, Registration

log = logging.getLogger(__name__)


class DatabaseBackendLink:
    """Registers the worker as backend `target/memberid` and carries its heartbeat.

    With `state.type: database` a backend stored by an earlier run keeps its initialState and
    maxThreads (an operator's changes survive restarts, seed 2.2.7); with `config`, the
    configured values are written over them at start.

    The heartbeat reports the backend row only; a job's heartbeat is refreshed just for the
    jobs this run holds (`DatabaseFeed.jobs_to_stop`). So jobs a crashed previous run left
    RUNNING under this name expire and go back to the queue like any dead worker's jobs.
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
        return Registration(initial_state=BackendStatus(backend.initial_state),
                            max_threads=backend.max_threads)

    async def heartbeat(self, status: BackendStatus, running: int) -> Control:
        return await asyncio.to_thread(self._heartbeat, status, running)

    def _heartbeat(self, status: BackendStatus, running: int) -> Control:
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
