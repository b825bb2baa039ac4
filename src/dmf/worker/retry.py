"""Whether to run the migration command again, how long to wait, and with what change: a pure
function of the attempt just finished and the source's retry settings (seed 3.7, 3.9).

- Exit 0 never retries. Exit 64 (usage), 67 (unknown user), 77 (no permission) and 78
  (configuration) do not either, unless `code-max` names the code: running the same command
  again cannot fix them. Every other code (2 "run again", 75 temporary, 1, 134 abort, ...)
  retries.
- Retries allowed after an attempt ending with code C: `code-max[C]`, else `max`. The attempt is
  retried while the attempts made so far are at most that number (`max: 1` means two attempts).
- Sleep before the retry: `code-sleep[C]`, else `sleep` (milliseconds).
- Parallel writes (seed 3.7): when the attempt's log had `failed: PUT ... failed: Absolute
  request timeout expired`, the retry adds `-o plugin/obox_max_parallel_writes=1`.
- Debug mode: with `debug-mode: true` and a storage timeout seen in the attempt's log, the retry
  runs with doveadm's `-D`.
The changes accumulate: once added, they stay for later retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmf.errors import EXIT_CONFIG, EXIT_NOPERM, EXIT_OK, EXIT_UNKNOWN_USER, EXIT_USAGE
from dmf.worker.source_settings import RetrySettings

FINAL_CODES = frozenset({EXIT_USAGE, EXIT_UNKNOWN_USER, EXIT_NOPERM, EXIT_CONFIG})
PARALLEL_WRITES_SETTING = "plugin/obox_max_parallel_writes=1"


@dataclass(frozen=True)
class AttemptSignals:
    """What the log analyzer saw during one attempt that changes the retry."""

    parallel_write_timeout: bool = False
    storage_timeout: bool = False


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    sleep_ms: int = 0
    limit_parallel_writes: bool = False
    debug: bool = False


def decide_retry(exit_code: int, attempts: int, settings: RetrySettings,
                 signals: AttemptSignals = AttemptSignals()) -> RetryDecision:
    """`attempts`: how many times the command has run, the one that ended with `exit_code`
    included."""
    code_max = settings.code_max or {}
    if exit_code == EXIT_OK or (exit_code in FINAL_CODES and exit_code not in code_max):
        return RetryDecision(retry=False)
    allowed = code_max.get(exit_code, settings.max)
    if attempts > allowed:
        return RetryDecision(retry=False)
    sleep_ms = (settings.code_sleep or {}).get(exit_code, settings.sleep)
    return RetryDecision(retry=True, sleep_ms=sleep_ms,
                         limit_parallel_writes=signals.parallel_write_timeout,
                         debug=settings.debug_mode and signals.storage_timeout)
