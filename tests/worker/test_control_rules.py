"""The pure rules of a worker's run state and of its local job cache."""

from __future__ import annotations

import pytest

from dmf.migration_db.models import BackendCommand, BackendStatus
from dmf.worker.control import initial_status, may_claim, next_status
from dmf.worker.job_cache import JobCache

S = BackendStatus
C = BackendCommand


@pytest.mark.parametrize(("current", "command", "expected"), [
    (S.STARTED, None, S.STARTED),
    (S.STARTED, C.PAUSE, S.PAUSED),
    (S.STARTED, C.STOP, S.STOPPING),
    (S.STARTED, C.START, S.STARTED),
    (S.PAUSED, C.START, S.STARTED),
    (S.PAUSED, C.PAUSE, S.PAUSED),
    (S.PAUSED, C.STOP, S.STOPPING),
    (S.STOPPED, C.START, S.STARTED),
    (S.STOPPED, C.PAUSE, S.STOPPED),
    (S.STOPPED, C.STOP, S.STOPPING),
    (S.STOPPING, C.START, S.STOPPING),
    (S.STOPPING, C.PAUSE, S.STOPPING),
])
def test_next_status(current, command, expected):
    assert next_status(current, command) is expected


def test_only_a_started_worker_claims():
    assert [s for s in S if may_claim(s)] == [S.STARTED]


def test_initial_status():
    assert initial_status(S.STARTED) is S.STARTED
    assert initial_status(S.STOPPED) is S.STOPPED


def test_cache_keeps_order_and_size():
    cache = JobCache(3)
    cache.replace([5, 3, 9, 1])
    assert len(cache) == 3
    assert cache.front(2) == [5, 3]
    cache.discard([5, 3], claimed=2)
    assert cache.front(5) == [9]


def test_cache_refills_early_only_after_a_claim():
    cache = JobCache(10)
    cache.replace([])
    assert not cache.wants_early_refill()  # an empty queue waits for the next interval
    cache.replace([1, 2])
    cache.discard([1, 2], claimed=0)
    assert not cache.wants_early_refill()  # nothing claimable now: wait too
    cache.replace([3, 4])
    cache.discard([3], claimed=1)
    assert not cache.wants_early_refill()  # not dry yet
    cache.discard([4], claimed=0)
    assert cache.wants_early_refill()
