"""The running jobs of one worker: asyncio tasks, counted against maxThreads.

A job is an asyncio task (its commands are child processes, its database calls run in threads),
so the pool needs no threads of its own; `micronaut.executors.*.number-of-threads` bounds the
threads those database calls use. A finished task sets `slot_freed`, which wakes the claim loop
at once instead of at the next refresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class JobPool:
    def __init__(self) -> None:
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancelled: set[int] = set()
        self.slot_freed = asyncio.Event()

    @property
    def running(self) -> int:
        return len(self._tasks)

    @property
    def job_ids(self) -> list[int]:
        return list(self._tasks)

    def free_slots(self, max_threads: int) -> int:
        return max(max_threads - len(self._tasks), 0)

    def start(self, job_id: int, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job, name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda done: self._finished(job_id, done))

    def cancel(self, job_id: int) -> bool:
        """Stop one running job (an operator's cancel); False if it is not running here."""
        task = self._tasks.get(job_id)
        if task is None:
            return False
        self._cancelled.add(job_id)
        task.cancel()
        return True

    def cancelled_here(self, job_id: int) -> bool:
        """Whether the job's cancellation came from `cancel` rather than a shutdown."""
        return job_id in self._cancelled

    def _finished(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)
        self._cancelled.discard(job_id)
        self.slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            # A job coroutine reports its own failures; reaching here is a bug worth a trace.
            log.error("job %s ended with an unhandled error", job_id,
                      exc_info=task.exception())

    async def drain(self, timeout_seconds: float) -> list[int]:
        """Wait up to `timeout_seconds` for every running job; returns the ids of those still
        running then, in order (they are cancelled: their rows stay RUNNING until the heartbeat
        expires and another worker, or this one restarted, takes them back)."""
        running = dict(self._tasks)
        if not running:
            return []
        if timeout_seconds > 0:
            await asyncio.wait(list(running.values()), timeout=timeout_seconds)
        abandoned = {job_id: task for job_id, task in running.items() if not task.done()}
        for task in abandoned.values():
            task.cancel()
        if abandoned:
            await asyncio.wait(list(abandoned.values()), timeout=5)
        return sorted(abandoned)
