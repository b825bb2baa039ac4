""""dsync": the migration command with its retries (seed 3.9, 3.10.3, 3.13).

The command is the phase's configured `sync` command, else (doveadm type only)
`commands.default_migration`. Each attempt's output goes through a fresh log analyzer; after a
failed attempt `retry.decide_retry` says whether to sleep and run again, and with which changes
(doveadm type only: `-o plugin/obox_max_parallel_writes=1`, `-D`, put right after the program as
the global options they are).

Detail fields: the seed's `success`, `command` (the last attempt, secrets `<hidden>`), `exitCode`
(the last attempt's), `errors` (of every attempt, each once), `attempts`; with `count.sync` and
the analyzer on, `saved` and `expunged` per mailbox (summed over all attempts: what an attempt
saved before failing stays saved); `invalid` per mailbox when duplicate UIDs were seen (with
`move-duplicates` they are moved to lost+found after the attempt that found them, before any
retry: `steps/move_duplicates.py`). Added by
dmf: `exitCodes` (one per attempt, in order) and `retries` (one `{attempt, exitCode, sleepMs}`
per retry: the attempt that failed, its code, the sleep before the next).
"""

from __future__ import annotations

import asyncio
from typing import Any

from dmf.errors import ConfigError
from dmf.worker import commands
from dmf.worker.log_analyzer import LogAnalyzer
from dmf.worker.retry import PARALLEL_WRITES_SETTING, decide_retry
from dmf.worker.steps.move_duplicates import move_duplicates
from dmf.worker.steps.runtime import StepRuntime

STEP = "dsync"


def migration_argv(runtime: StepRuntime) -> list[str]:
    spec = runtime.phase_commands.sync
    if spec is not None:
        return runtime.render(spec)
    if not runtime.doveadm_type:
        phase = "cutover" if runtime.context.phase == "cutover" else "sync"
        raise ConfigError(f"worker type command: command.{phase}.sync (the migration command) "
                          "is not configured")
    return commands.default_migration(runtime.doveadm, runtime.context, runtime.settings)


def _with_globals(argv: list[str], limit_parallel_writes: bool, debug: bool) -> list[str]:
    extra = (["-D"] if debug and "-D" not in argv else []) + \
        (["-o", PARALLEL_WRITES_SETTING] if limit_parallel_writes else [])
    return [argv[0], *extra, *argv[1:]]


def _merge_counts(total: dict[str, int], attempt: dict[str, int]) -> None:
    for mailbox, number in attempt.items():
        total[mailbox] = total.get(mailbox, 0) + number


async def run_migration(runtime: StepRuntime) -> dict[str, Any]:
    base = migration_argv(runtime)
    settings = runtime.settings
    counting = settings.analyze_log and settings.count.sync
    exit_codes: list[int] = []
    retries: list[dict[str, int]] = []
    errors: list[str] = []
    saved: dict[str, int] = {}
    expunged: dict[str, int] = {}
    invalid: dict[str, list[str]] = {}
    limit_parallel_writes = debug = False
    while True:
        argv = _with_globals(base, limit_parallel_writes, debug) if runtime.doveadm_type \
            else base
        analyzer = LogAnalyzer()
        result = await runtime.run(STEP, argv, analyzer, keep_stdout=False)
        exit_codes.append(result.exit_code)
        errors += [error for error in result.errors if error not in errors]
        if settings.analyze_log:
            _merge_counts(saved, analyzer.saved)
            _merge_counts(expunged, analyzer.expunged)
            for mailbox, uids in analyzer.invalid.items():
                known = invalid.setdefault(mailbox, [])
                known += [uid for uid in uids if uid not in known]
            if analyzer.invalid and settings.move_duplicates:
                errors += await move_duplicates(runtime, analyzer.invalid)
        decision = decide_retry(result.exit_code, len(exit_codes), settings.retry,
                                analyzer.signals)
        if not decision.retry:
            break
        retries.append({"attempt": len(exit_codes), "exitCode": result.exit_code,
                        "sleepMs": decision.sleep_ms})
        limit_parallel_writes |= decision.limit_parallel_writes
        debug |= decision.debug
        if runtime.metrics is not None:
            runtime.metrics.job_retried()
        await asyncio.sleep(decision.sleep_ms / 1000)
    entry = result.entry(attempts=len(exit_codes), exitCodes=exit_codes, retries=retries)
    entry["errors"] = errors
    if counting:
        entry.update(saved=saved, expunged=expunged)
    if invalid:
        entry["invalid"] = invalid
    return entry
