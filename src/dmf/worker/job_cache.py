"""The worker's local cache of candidate job ids (seed 2.2.9.1).

The database is no priority queue: finding the next job means a sorting query. The worker runs
that query (`peek_queued`) at most once per refresh interval for up to `jobs.cache.size` ids,
then claims from the front of this cache. A claim names its candidates, so a candidate that was
taken by another worker, cancelled, or whose user is busy simply is not claimed; it is dropped
here and comes back with the next refresh if it is still queued.

When the cache runs dry before the interval is over, one early refill is allowed only if the last
one found work; an empty queue is therefore asked once per interval, not in a loop.
"""

from __future__ import annotations

from collections.abc import Iterable


class JobCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: list[int] = []
        self._last_refill_found_work = False

    def __len__(self) -> int:
        return len(self._ids)

    def replace(self, candidate_ids: Iterable[int]) -> None:
        """Fresh candidates from the database, best first; the old list is dropped."""
        self._ids = list(candidate_ids)[: self.size]
        self._last_refill_found_work = bool(self._ids)

    def wants_early_refill(self) -> bool:
        return not self._ids and self._last_refill_found_work

    def front(self, count: int) -> list[int]:
        """The best `count` candidates (still cached until `discard`)."""
        return self._ids[:count]

    def discard(self, job_ids: Iterable[int]) -> None:
        """Forget candidates that were tried: claimed now, or gone for this interval."""
        tried = set(job_ids)
        self._ids = [job_id for job_id in self._ids if job_id not in tried]
