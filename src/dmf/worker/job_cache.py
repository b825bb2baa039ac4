"""The worker's local cache of candidate job ids (seed 2.2.9.1).

The database is no priority queue: finding the next job means a sorting query. The worker runs
that query (`peek_queued`) at most once per refresh interval for up to `jobs.cache.size` ids,
then claims from the front of this cache. A claim names its candidates, so a candidate that was
taken by another worker, cancelled, or whose user is busy simply is not claimed; it is dropped
here and comes back with the next refresh if it is still queued.

When the cache runs dry before the interval is over, it is refilled early only if the candidates
of the last refill gave at least one claim: an empty queue, or candidates that cannot be claimed
now (rows locked by a long transaction elsewhere), are asked once per interval, not in a loop.
"""

from __future__ import annotations

from collections.abc import Iterable


class JobCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: list[int] = []
        self._claimed_since_refill = 0

    def __len__(self) -> int:
        return len(self._ids)

    def replace(self, candidate_ids: Iterable[int]) -> None:
        """Fresh candidates from the database, best first; the old list is dropped."""
        self._ids = list(candidate_ids)[: self.size]
        self._claimed_since_refill = 0

    def wants_early_refill(self) -> bool:
        return not self._ids and self._claimed_since_refill > 0

    def front(self, count: int) -> list[int]:
        """The best `count` candidates (still cached until `discard`)."""
        return self._ids[:count]

    def discard(self, job_ids: Iterable[int], claimed: int) -> None:
        """Forget candidates that were tried (`claimed` of them were claimed; the others are
        gone for this interval)."""
        tried = set(job_ids)
        self._ids = [job_id for job_id in self._ids if job_id not in tried]
        self._claimed_since_refill += claimed
