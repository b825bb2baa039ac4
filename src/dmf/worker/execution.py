"""From a claimed job row to an outcome: build the JobContext, then run the configured job type.

The source password is unwrapped here, per job: a missing or wrong storage key fails that job
(its details say which key), never the worker, which goes on with the next job.
"""

from __future__ import annotations

from collections.abc import Callable

from dmf.errors import DmfError
from dmf.migration_db.records import ClaimedJob, JobRecord
from dmf.service.metrics import ServiceMetrics
from dmf.service.worker_config import WorkerConfig
from dmf.worker.job_context import JobContext
from dmf.worker.job_run import run_job

# The details entry of a job that could not be prepared (its password could not be unwrapped).
PREPARE_STEP = "prepare-job"

# `dmf.migration_db.keys.KeyRing.unwrap_job_password`: the clear password or None; a DmfError
# naming the key when it cannot be unwrapped.
PasswordUnwrapper = Callable[[JobRecord], str | None]


def imapc_ssl_setting(ssl: bool | None) -> str | None:
    """Dovecot's imapc_ssl value for a source host: `imaps` or `no` (seed 3.8.4.1)."""
    if ssl is None:
        return None
    return "imaps" if ssl else "no"


def job_context(claimed: ClaimedJob, password: str | None) -> JobContext:
    job, host = claimed.job, claimed.source_host
    return JobContext(
        job_id=job.id,
        uid=job.uid,
        ruid=job.ruid if job.ruid is not None else job.uid,
        email=job.email,
        source=job.source,
        source_host=job.source_host,
        source_port=host.port if host is not None else None,
        imapc_ssl=imapc_ssl_setting(host.ssl if host is not None else None),
        source_password=password,
        imapc_options=job.imapcoptions,
        exclude=job.exclude,
        phase=job.phase.value,  # type: ignore[arg-type]  # JobPhase values are the Literal's
        attempt=job.attempts,
        source_status_command=host.status_command if host is not None else None,
    )


class JobExecutor:
    """Runs one claimed job to a (success, details) pair for the worker loop; the worker type
    (doveadm, command, simulator) is `job_run.run_job`'s business."""

    def __init__(self, config: WorkerConfig, metrics: ServiceMetrics,
                 unwrap_password: PasswordUnwrapper) -> None:
        self._config = config
        self._metrics = metrics
        self._unwrap = unwrap_password

    async def __call__(self, claimed: ClaimedJob) -> tuple[bool, list[dict[str, object]]]:
        try:
            password = self._unwrap(claimed.job)
        except DmfError as exc:
            return False, [{PREPARE_STEP: {"success": False, "errors": [str(exc)]}}]
        outcome = await run_job(job_context(claimed, password), self._config, self._metrics)
        return outcome.success, outcome.details
