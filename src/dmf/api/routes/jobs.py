"""Jobs: submit one user or a CSV of users, list with filters and paging, read one, cancel,
requeue. A submitted password is wrapped before it reaches the repository and is never
returned: responses say only whether one is stored and under which key name."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from pydantic import AfterValidator

from dmf.api.dependencies import Repository, Wrapper
from dmf.api.job_csv import decode_upload, parse_job_csv
from dmf.api.paths import JobId
from dmf.api.schemas import (
    INT32_MAX,
    NAME_MAX,
    BulkSubmitted,
    JobDetail,
    JobOut,
    JobPage,
    JobSubmission,
    printable_name,
)
from dmf.migration_db.models import JobPhase, JobStatus
from dmf.migration_db.records import InvalidValueError, JobFilter, JobRecord, NewJob

router = APIRouter(tags=["jobs"])
log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_PAGE = 1000



def _optional_name(value: str | None) -> str | None:
    return None if value is None else printable_name(value)


QueryName = Annotated[str | None, Query(min_length=1, max_length=2 * NAME_MAX + 1),
                      AfterValidator(_optional_name)]


def _job_fields(record: JobRecord) -> dict[str, object]:
    return {
        "id": record.id, "target": record.target, "source": record.source, "uid": record.uid,
        "ruid": record.ruid, "email": record.email, "sourceHost": record.source_host,
        "passwordStored": record.password is not None,
        "passwordKey": record.password.key_name if record.password else None,
        "imapcoptions": record.imapcoptions, "exclude": record.exclude, "phase": record.phase,
        "priority": record.priority, "status": record.status, "submitted": record.submitted,
        "started": record.started, "finished": record.finished, "attempts": record.attempts,
        "backend": record.backend, "heartbeat": record.heartbeat,
        "cancelRequested": record.cancel_requested,
    }


def job_out(record: JobRecord) -> JobOut:
    return JobOut.model_validate(_job_fields(record))


def job_detail(record: JobRecord) -> JobDetail:
    return JobDetail.model_validate({**_job_fields(record), "details": record.details})


def _new_job(submission: JobSubmission, wrapper: Wrapper) -> NewJob:
    wrapped = None
    if submission.password is not None:
        if wrapper is None:
            raise InvalidValueError("this scheduler has no wrapping key (dmf.scheduler.crypto): "
                                    "it cannot accept passwords")
        wrapped = wrapper.wrap(submission.password.get_secret_value(),
                               target=submission.target, source=submission.source,
                               uid=submission.uid)
    return NewJob(target=submission.target, source=submission.source, uid=submission.uid,
                  phase=submission.phase, priority=submission.priority, ruid=submission.ruid,
                  email=submission.email, source_host=submission.source_host, password=wrapped,
                  imapcoptions=submission.imapcoptions, exclude=submission.exclude)


@router.post("/jobs", status_code=status.HTTP_201_CREATED)
def submit_job(body: JobSubmission, repository: Repository, wrapper: Wrapper) -> JobDetail:
    record = repository.submit_job(_new_job(body, wrapper))
    log.info("job %d queued: target %r uid %r phase %s", record.id, record.target, record.uid,
             record.phase.value)
    return job_detail(record)


@router.post("/jobs/bulk", status_code=status.HTTP_201_CREATED)
def submit_jobs_csv(file: Annotated[UploadFile, File(description="CSV with a header row")],
                    repository: Repository, wrapper: Wrapper,
                    target: Annotated[str, Form(min_length=1, max_length=NAME_MAX),
                                      AfterValidator(printable_name)] = "default") -> BulkSubmitted:
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise InvalidValueError(f"CSV: larger than {MAX_UPLOAD_BYTES} bytes")
    submissions = parse_job_csv(decode_upload(content), target)
    ids = repository.submit_jobs([_new_job(s, wrapper) for s in submissions])
    log.info("%d jobs queued from a CSV upload", len(ids))
    return BulkSubmitted(submitted=len(ids), ids=ids)


@router.get("/jobs")
def list_jobs(repository: Repository,
              target: QueryName = None,
              job_status: Annotated[list[JobStatus] | None, Query(alias="status")] = None,
              phase: JobPhase | None = None,
              source: QueryName = None,
              uid: QueryName = None,
              backend: QueryName = None,
              offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
              limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> JobPage:
    filters = JobFilter(target=target, sources=[source] if source is not None else None,
                        uid=uid, statuses=job_status or None, phase=phase, backend=backend)
    return JobPage(total=repository.count_jobs(filters), offset=offset, limit=limit,
                   items=[job_out(j) for j in repository.list_jobs(filters, offset, limit)])


@router.get("/jobs/{job_id}")
def get_job(job_id: JobId, repository: Repository) -> JobDetail:
    return job_detail(repository.get_job(job_id))


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: JobId, repository: Repository) -> JobOut:
    record = repository.cancel_job(job_id)
    log.info("job %d cancel asked (now %s)", job_id, record.status.value)
    return job_out(record)


@router.post("/jobs/{job_id}/requeue")
def requeue_job(job_id: JobId, repository: Repository) -> JobOut:
    record = repository.requeue_job(job_id)
    log.info("job %d requeued", job_id)
    return job_out(record)
