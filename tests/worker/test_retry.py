"""The pure retry policy: max / code-max, sleep / code-sleep, final codes, parallel writes and
debug mode."""

from __future__ import annotations

import pytest

from dmf.worker.retry import AttemptSignals, RetryDecision, decide_retry
from dmf.worker.source_settings import RetrySettings

SEED = RetrySettings()  # max 1, sleep 5000, code-max {134: 2, 75: 4}, code-sleep {75: 15000}


@pytest.mark.parametrize(("code", "attempts", "expected"), [
    (0, 1, RetryDecision(retry=False)),
    (2, 1, RetryDecision(retry=True, sleep_ms=5000)),
    (2, 2, RetryDecision(retry=False)),             # max 1: two attempts in all
    (75, 1, RetryDecision(retry=True, sleep_ms=15000)),
    (75, 4, RetryDecision(retry=True, sleep_ms=15000)),
    (75, 5, RetryDecision(retry=False)),            # code-max 75: 4 retries
    (134, 2, RetryDecision(retry=True, sleep_ms=5000)),
    (134, 3, RetryDecision(retry=False)),
    (1, 1, RetryDecision(retry=True, sleep_ms=5000)),
    (64, 1, RetryDecision(retry=False)),            # usage: running again cannot help
    (67, 1, RetryDecision(retry=False)),
    (77, 1, RetryDecision(retry=False)),
    (78, 1, RetryDecision(retry=False)),
])
def test_seed_defaults(code: int, attempts: int, expected: RetryDecision) -> None:
    assert decide_retry(code, attempts, SEED) == expected


def test_code_max_can_allow_a_final_code() -> None:
    settings = RetrySettings.model_validate({"max": 0, "code-max": {67: 1}})
    assert decide_retry(67, 1, settings).retry
    assert not decide_retry(67, 2, settings).retry


def test_no_retries_configured() -> None:
    settings = RetrySettings.model_validate({"max": 0, "code-max": None, "code-sleep": None})
    assert not decide_retry(75, 1, settings).retry


def test_parallel_write_timeout_limits_writes() -> None:
    decision = decide_retry(75, 1, SEED, AttemptSignals(parallel_write_timeout=True,
                                                        storage_timeout=True))
    assert decision.retry and decision.limit_parallel_writes and not decision.debug


def test_debug_mode_only_after_storage_timeout() -> None:
    settings = RetrySettings.model_validate({"debug-mode": True})
    assert decide_retry(75, 1, settings, AttemptSignals(storage_timeout=True)).debug
    assert not decide_retry(75, 1, settings).debug
    assert not decide_retry(0, 1, settings, AttemptSignals(storage_timeout=True)).debug
