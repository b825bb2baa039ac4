"""One migration job run: the worker type's work, the seed's order of operations (3.12), and the
details array (3.13).

Worker types (`dmf.worker.type`, seed 6.1):
- `doveadm`: the order of operations below, secrets kept out of every child's argv.
- `command`: only the phase's migration command, injected but not converted, with the retry
  policy and the log analyzer (so dmf's event lines still give saved counts). Its argv is what
  the configuration says, passwords included, as the seed warns; details and logs still show
  `<hidden>`.
- `simulator`: sleeps (`worker/simulator.py`).

Order of operations of the doveadm type, each step only when configured:
move user, pre migration command, copy imapc inbox, count local mailbox pre sync, dsync (the
migration command, with the sync count), remove imapc inbox (after dsync whatever its outcome,
when the copy was attempted);
then after a successful dsync: count local mailbox post sync, count remote mailbox, flush user
metacache, clean user metacache, post migration command; after a failure: post migration
failure command.

What fails a job: the migration command failing after its retries; a misconfiguration (a bad
`%{...}` reference, a password that would reach argv, an unreadable container file); an
unexpected error inside a step (logged, masked); and a failed step whose
`failure-flags.<pre|cutover>.<step>` is set. A failure before dsync skips it
and the remaining earlier steps; a failure after it skips the remaining later steps, so the post
command never runs for a failed job. Either way the failure command runs (when configured).

`run_job` never raises for a failed job: it returns JobOutcome(success=False, details).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dmf.errors import DmfError
from dmf.service.worker_config import WorkerConfig, WorkerType
from dmf.worker.command_log import open_command_log
from dmf.worker.commands import mask
from dmf.worker.injection import Injector, secret_values
from dmf.worker.job_context import JobContext, JobOutcome
from dmf.worker.simulator import simulate_job
from dmf.worker.source_settings import FailureFlags, SourceSettings, resolve_source_settings
from dmf.worker.steps import imapc_inbox, mailbox_count, metacache, migration, move_user
from dmf.worker.steps.container import read_container
from dmf.worker.steps.phase_command import FAILURE, POST, PRE, run_phase_command
from dmf.worker.steps.runtime import Metrics, StepRuntime

log = logging.getLogger(__name__)

CONFIGURATION_STEP = "configuration"

Step = Callable[[StepRuntime], Awaitable[dict[str, Any]]]


class _Run:
    """The details array being written and whether the job has failed."""

    def __init__(self, runtime: StepRuntime, flags: FailureFlags) -> None:
        self.runtime = runtime
        self.flags = flags
        self.details: list[dict[str, Any]] = []
        self.failed = False

    async def step(self, name: str, step: Step, flag: str | None = None, *,
                   fatal: bool = False) -> bool:
        """Run one step, record it; False when it failed the job (it failed and is `fatal`, its
        failure flag is set, or it met a misconfiguration)."""
        try:
            entry = await step(self.runtime)
            fatal = fatal or (flag is not None and getattr(self.flags, flag))
        except DmfError as exc:
            entry = {"success": False, "errors": [mask(str(exc), self.runtime.secrets)]}
            fatal = True
        except Exception as exc:  # noqa: BLE001 - a job never takes the worker down
            text = mask(f"{type(exc).__name__}: {exc}", self.runtime.secrets)
            log.error("job %s: step %s failed unexpectedly: %s", self.runtime.context.job_id,
                      name, text)
            entry = {"success": False, "errors": [f"internal error: {text}"]}
            fatal = True
        self.details.append({name: entry})
        if not entry["success"] and fatal:
            self.failed = True
        return not self.failed


async def _doveadm_order(run: _Run) -> None:
    runtime = run.runtime
    settings, commands = runtime.settings, runtime.phase_commands
    before: list[tuple[bool, str, Step, str]] = [
        (settings.director.enabled and settings.director.move_user, move_user.STEP,
         move_user.run_move_user, "director_move_user"),
        (commands.pre is not None, PRE,
         lambda rt: run_phase_command(rt, PRE, rt.phase_commands.pre), "pre_migration_command"),
        (settings.copy_imapc_inbox, imapc_inbox.COPY, imapc_inbox.run_copy, "copy_imapc_inbox"),
        (settings.count.pre, mailbox_count.LOCAL_PRE,
         lambda rt: mailbox_count.run_local_count(rt, mailbox_count.LOCAL_PRE),
         "count_local_pre"),
    ]
    for enabled, name, step, flag in before:
        if enabled and not await run.step(name, step, flag):
            break
    else:
        await run.step(migration.STEP, migration.run_migration, fatal=True)
    if settings.remove_imapc_path and any(imapc_inbox.COPY in entry for entry in run.details):
        await run.step(imapc_inbox.REMOVE, imapc_inbox.run_remove, "remove_imapc_inbox")
    after: list[tuple[bool, str, Step, str]] = [
        (settings.count.post, mailbox_count.LOCAL_POST,
         lambda rt: mailbox_count.run_local_count(rt, mailbox_count.LOCAL_POST),
         "count_local_post"),
        (settings.count.remote, mailbox_count.REMOTE, mailbox_count.run_remote_count,
         "count_remote"),
        (settings.flush_metacache, metacache.FLUSH,
         lambda rt: metacache.run_metacache(rt, metacache.FLUSH, "flush"), "flush_metacache"),
        (settings.clean_metacache, metacache.CLEAN,
         lambda rt: metacache.run_metacache(rt, metacache.CLEAN, "clean"), "clean_metacache"),
        (commands.post is not None, POST,
         lambda rt: run_phase_command(rt, POST, rt.phase_commands.post),
         "post_migration_command"),
    ]
    for enabled, name, step, flag in after:
        if run.failed:
            break
        if enabled:
            await run.step(name, step, flag)
    await _failure_command(run)


async def _failure_command(run: _Run) -> None:
    if run.failed and run.runtime.phase_commands.failure is not None:
        await run.step(FAILURE, lambda rt: run_phase_command(rt, FAILURE,
                                                             rt.phase_commands.failure))


def _flags(settings: SourceSettings, context: JobContext) -> FailureFlags:
    by_phase = settings.failure_flags
    return by_phase.cutover if context.phase == "cutover" else by_phase.pre


async def run_job(context: JobContext, config: WorkerConfig,
                  metrics: Metrics | None = None) -> JobOutcome:
    """Run one claimed job to its end (module docstring); never raises for a failed job."""
    worker = config.dmf.worker
    if worker.type is WorkerType.SIMULATOR:
        return await simulate_job(context, worker.simulator)
    settings = resolve_source_settings(config.dmf.doveadm.source, context.source)
    secrets = secret_values(context, settings)
    logging_settings = worker.command.logging
    try:
        container = read_container(settings.container_file, context.imapc_options) \
            if settings.fetch_container and context.imapc_options else None
        director = settings.director
        tls = move_user.api_tls(config) if director.enabled and director.move_user else True
        command_log = open_command_log(
            str(logging_settings.type), name_format=logging_settings.file.format,
            location=logging_settings.file.location,
            delete_on_success=logging_settings.file.delete_on_success,
            context=context, secrets=secrets)
    except (DmfError, OSError) as exc:
        text = mask(str(exc), secrets)
        return JobOutcome(False, [{CONFIGURATION_STEP: {"success": False, "errors": [text]}}])
    runtime = StepRuntime(
        context=context, settings=settings, doveadm=config.dmf.doveadm.path,
        injector=Injector.for_job(context, settings, container), secrets=secrets,
        command_log=command_log, doveadm_type=worker.type is WorkerType.DOVEADM,
        metrics=metrics, api_tls=tls)
    run = _Run(runtime, _flags(settings, context))
    try:
        if runtime.doveadm_type:
            await _doveadm_order(run)
        else:
            await run.step(migration.STEP, migration.run_migration, fatal=True)
    finally:
        command_log.close(job_succeeded=not run.failed)
    return JobOutcome(not run.failed, run.details)
