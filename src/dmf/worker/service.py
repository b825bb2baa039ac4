"""The worker loop: register, then claim / heartbeat / obey until told to stop.

One asyncio loop; blocking database calls run in threads (the `BackendLink` and `JobFeed`
implementations do that). Timing:
- Every refresh interval (`dmf.worker.jobs.cache.refresh`) a heartbeat task of its own reports
  the worker's status and running-job count, refreshes the heartbeat of the jobs it runs (only
  those: a job it lost track of expires), takes any pending operator command (PAUSE / START /
  STOP) and the stored maxThreads.
  A control change therefore takes effect within one refresh interval. Being its own task, the
  heartbeat never waits behind a long claim round.
- After each heartbeat the loop refills its job cache; after every
  `HEARTBEAT_TIMEOUT_INTERVALS`-th one it also asks for jobs whose heartbeat is older than that
  many refresh intervals (their worker died) to be put back in the queue.
- A failing database is logged and retried at the next interval; the worker keeps running.
- Between ticks it sleeps, waking early only when a running job ends (a slot freed) or a signal
  arrives, so an idle worker costs no CPU.
- SIGTERM / SIGINT, or the STOP command: stop claiming, wait up to
  `dmf.worker.jobs.termination.timeout` ms for the running jobs, report STOPPED, return. Jobs still
  running then are abandoned in the RUNNING state: their heartbeat expires and another worker
  (or this one, restarted) takes them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from dmf.migration_db.models import BackendCommand, BackendStatus, JobStatus
from dmf.migration_db.records import ClaimedJob
from dmf.service.metrics import JobOutcome as MetricsOutcome
from dmf.service.metrics import ServiceMetrics
from dmf.worker.control import initial_status, may_claim, next_status
from dmf.worker.job_cache import JobCache
from dmf.worker.pool import JobPool

log = logging.getLogger(__name__)

# A job whose heartbeat is older than this many refresh intervals belongs to a dead worker. Three
# intervals let a live worker miss two heartbeats (a slow database, a long GC-like stall) before
# its jobs are taken from it.
HEARTBEAT_TIMEOUT_INTERVALS = 3
# Storing a job's result is retried once per refresh interval this many times.
FINISH_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Control:
    """What the worker reads back from its backend row on each heartbeat."""

    command: BackendCommand | None
    max_threads: int


@dataclass(frozen=True, slots=True)
class Registration:
    initial_state: BackendStatus
    max_threads: int


class BackendLink(Protocol):
    """The worker's own row in the migration database."""

    async def register(self) -> Registration: ...

    async def heartbeat(self, status: BackendStatus, running: int) -> Control:
        """Report status and running-job count; return (and clear) the pending command."""
        ...


class JobFeed(Protocol):
    """Where jobs come from: the migration database, or the simulator."""

    async def candidates(self, limit: int) -> list[int]: ...

    async def claim(self, candidates: list[int], limit: int) -> list[ClaimedJob]: ...

    async def finish(self, job_id: int, status: JobStatus,
                     details: list[dict[str, object]]) -> None: ...

    async def reclaim_expired(self) -> None: ...

    async def jobs_to_stop(self, job_ids: list[int]) -> set[int]:
        """Keep the running jobs' heartbeat fresh; return those to stop now (cancelled by an
        operator, or no longer ours)."""
        ...


JobRunner = Callable[[ClaimedJob], Awaitable[tuple[bool, list[dict[str, object]]]]]


class WorkerService:
    """One worker process's loop. `run_job` turns a claimed job into (success, details) and must
    not raise for a failed migration (that is a FAILURE outcome)."""

    def __init__(self, *, link: BackendLink, feed: JobFeed, run_job: JobRunner,
                 metrics: ServiceMetrics, refresh_seconds: float, cache_size: int,
                 termination_timeout_seconds: float) -> None:
        self._link = link
        self._feed = feed
        self._run_job = run_job
        self._metrics = metrics
        self._refresh = refresh_seconds
        self._cache = JobCache(cache_size)
        self._termination_timeout = termination_timeout_seconds
        self._pool = JobPool()
        self._stop_requested = asyncio.Event()
        self._wake = asyncio.Event()
        self._refresh_due = asyncio.Event()
        # a status change waits for a claim round in flight: once PAUSED is reported, no job
        # claimed under RUNNING may still start
        self._status_lock = asyncio.Lock()
        self._refreshes = 0
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._heartbeat_stop = asyncio.Event()
        self.status = BackendStatus.STOPPED
        self.max_threads = 0

    @property
    def running(self) -> int:
        return self._pool.running

    def request_stop(self) -> None:
        """What SIGTERM / SIGINT do: the loop winds down at once."""
        self._stop_requested.set()
        self._wake.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)

    async def run(self) -> list[int]:
        """Returns the ids of the jobs abandoned at shutdown (none after a clean drain)."""
        registration = await self._link.register()
        self.status = initial_status(registration.initial_state)
        self.max_threads = registration.max_threads
        log.info("worker registered: %s, maxThreads %d", self.status.name, self.max_threads)
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        try:
            while True:
                if self._stop_requested.is_set():
                    self.status = BackendStatus.STOPPING
                if self.status is BackendStatus.STOPPING:
                    break
                self._pool.slot_freed.clear()
                try:
                    if self._refresh_due.is_set():
                        self._refresh_due.clear()
                        await self._refresh_queue()
                    if may_claim(self.status):
                        await self._claim()
                except Exception as exc:  # the database may come back: try again next interval
                    log.warning("queue unavailable, retrying at the next refresh: %s",
                                _one_line(exc))
                    self._cache.replace([])
                self._report_pool()
                await self._sleep()
            return await self._shut_down()
        finally:
            await self._stop_heartbeat()

    async def _stop_heartbeat(self) -> None:
        """Let the heartbeat task finish its current round (a database call in a thread cannot
        be cancelled half-way, and would land after the last report) and end."""
        if self._heartbeat_task is not None:
            self._heartbeat_stop.set()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
            self._heartbeat_task = None

    async def _heartbeat_loop(self) -> None:
        """Its own task, on a fixed schedule, so a long claim round or a slow finish never
        delays the heartbeat that keeps this worker's jobs from being taken back."""
        while not self._heartbeat_stop.is_set():
            try:
                await self._heartbeat()
            except Exception as exc:  # keep beating: the database may come back
                log.warning("heartbeat failed, retrying at the next refresh: %s",
                            _one_line(exc))
            self._refresh_due.set()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_stop.wait(), self._refresh)

    async def _heartbeat(self) -> None:
        before = self.status
        control = await self._link.heartbeat(self.status, self._pool.running)
        stop = await self._feed.jobs_to_stop(self._pool.job_ids) if self._pool.running \
            else set()
        for job_id in stop:
            if self._pool.cancel(job_id):
                log.info("job %s: cancelled while running", job_id)
        async with self._status_lock:
            if self.status is BackendStatus.STOPPING:
                return  # shutting down: only the heartbeat itself still matters
            self.status = next_status(self.status, control.command)
            if control.max_threads != self.max_threads:
                log.info("maxThreads %d -> %d", self.max_threads, control.max_threads)
                self.max_threads = control.max_threads
            if self.status is not before:
                log.info("%s -> %s (command %s)", before.name, self.status.name,
                         control.command.value if control.command else None)
                if self.status is not BackendStatus.STOPPING:
                    # tell the database at once, so an operator waiting on PAUSE sees it now
                    await self._link.heartbeat(self.status, self._pool.running)

    async def _refresh_queue(self) -> None:
        """Once per refresh interval: refill the job cache; once per heartbeat timeout: put back
        the jobs of dead workers (a job of a dead worker is therefore back in the queue between
        one and two heartbeat timeouts after its last heartbeat; reclaiming more often would
        only scan the queue more)."""
        self._refreshes += 1
        if self._refreshes % HEARTBEAT_TIMEOUT_INTERVALS == 1:
            await self._feed.reclaim_expired()
        if may_claim(self.status):
            # even with every slot taken: a busy worker refills its slots from this cache the
            # moment a job ends, and a stale cache would miss jobs whose user became free or
            # that were submitted with a higher priority since
            self._cache.replace(await self._feed.candidates(self._cache.size))

    async def _claim(self) -> None:
        async with self._status_lock:
            await self._claim_free_slots()

    async def _claim_free_slots(self) -> None:
        while may_claim(self.status) and (free := self._pool.free_slots(self.max_threads)) > 0:
            if not len(self._cache):
                if not self._cache.wants_early_refill():
                    return
                self._cache.replace(await self._feed.candidates(self._cache.size))
                if not len(self._cache):
                    return
            candidates = self._cache.front(free)
            started = time.perf_counter()
            claimed = await self._feed.claim(candidates, free)
            if claimed:
                self._metrics.job_claimed(time.perf_counter() - started)  # per claim call
            self._cache.discard(candidates, claimed=len(claimed))
            for job in claimed:
                self._pool.start(job.job.id, self._execute(job))

    async def _execute(self, claimed: ClaimedJob) -> None:
        job = claimed.job
        self._metrics.job_started()
        started = time.monotonic()
        log.info("job %s: %s of %s (source %s), attempt %d", job.id, job.phase.value, job.uid,
                 job.source, job.attempts)
        try:
            success, details = await self._run_job(claimed)
        except asyncio.CancelledError:
            if self._pool.cancelled_here(job.id):
                self._metrics.job_finished(MetricsOutcome.FAILURE, str(job.phase),
                                           time.monotonic() - started)
                await asyncio.shield(self._feed.finish(job.id, JobStatus.CANCELLED, [
                    {"worker": {"success": False, "errors": ["cancelled while running"]}}]))
            raise
        except Exception as exc:  # a bug in a job type must fail the job, not leave it RUNNING
            log.exception("job %s: unexpected error", job.id)
            success, details = False, [{"worker": {"success": False,
                                                   "errors": [f"internal error: "
                                                              f"{type(exc).__name__}"]}}]
        elapsed = time.monotonic() - started
        self._metrics.job_finished(_outcome(success), str(job.phase), elapsed)
        status = JobStatus.SUCCESS if success else JobStatus.FAILURE
        log.info("job %s: %s after %.1f s", job.id, status.value, elapsed)
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                await self._feed.finish(job.id, status, details)
                return
            except Exception as exc:  # the result is worth waiting for the database
                log.warning("job %s: storing its %s result failed (attempt %d of %d): %s",
                            job.id, status.value, attempt, FINISH_ATTEMPTS, _one_line(exc))
                await asyncio.sleep(self._refresh)
        log.error("job %s: result %s lost; the job stays RUNNING until its heartbeat expires, "
                  "then it runs again", job.id, status.value)

    def _report_pool(self) -> None:
        self._metrics.executor_state(active=self._pool.running, max_threads=self.max_threads,
                                     queued=0)

    async def _sleep(self) -> None:
        """Until the next heartbeat, a signal, or (while claiming) a job's end."""
        if self._wake.is_set() or self._stop_requested.is_set():
            self._wake.clear()
            return
        waiters = [asyncio.ensure_future(self._wake.wait())]
        if may_claim(self.status) and (len(self._cache) or self._cache.wants_early_refill()):
            waiters.append(asyncio.ensure_future(self._pool.slot_freed.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._wake.clear()

    async def _shut_down(self) -> list[int]:
        log.info("stopping: waiting up to %.1f s for %d running job(s)",
                 self._termination_timeout, self._pool.running)
        # the heartbeat task goes on meanwhile: the jobs must not be taken while they finish
        abandoned = await self._pool.drain(self._termination_timeout)
        if abandoned:
            log.warning("job(s) %s still running at the termination timeout: left RUNNING, "
                        "their heartbeat will expire and another worker takes them back",
                        ", ".join(map(str, abandoned)))
        await self._stop_heartbeat()  # so no late STOPPING report overwrites the last one
        await self._link.heartbeat(BackendStatus.STOPPED, 0)
        self.status = BackendStatus.STOPPED
        self._report_pool()
        return abandoned


def _one_line(exc: BaseException) -> str:
    """An exception as one log line: its class and first line (driver messages run long)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _outcome(success: bool) -> MetricsOutcome:
    return MetricsOutcome.SUCCESS if success else MetricsOutcome.FAILURE
