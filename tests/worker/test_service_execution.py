"""From a claimed job row to the JobContext a job run sees."""

from __future__ import annotations

import datetime as dt

from dmf.migration_db.models import JobPhase, JobStatus
from dmf.migration_db.records import ClaimedJob, JobRecord, SourceHostRecord
from dmf.worker.execution import job_context

NOW = dt.datetime(2026, 1, 1)


def claimed(host: SourceHostRecord | None, ruid: str | None) -> ClaimedJob:
    job = JobRecord(id=7, target="t", source="POD_1", uid="alice", ruid=ruid,
                    email="alice@example.org", source_host="imap.pod1", password=None,
                    imapcoptions="-o x=y", exclude="Trash", phase=JobPhase.CUTOVER, priority=0,
                    status=JobStatus.RUNNING, submitted=NOW, started=NOW, finished=None,
                    attempts=2, backend="t/1", heartbeat=NOW, cancel_requested=False,
                    details=[])
    return ClaimedJob(job=job, source_host=host)


def test_context_from_a_job_with_its_source_host():
    host = SourceHostRecord(source="POD_1", host="imap.pod1", port=993, ssl=True,
                            status_command="doveadm mailbox status")
    context = job_context(claimed(host, "alice.r"), "pw")
    assert (context.job_id, context.uid, context.ruid, context.email) == (
        7, "alice", "alice.r", "alice@example.org")
    assert (context.source, context.source_host, context.source_port, context.imapc_ssl) == (
        "POD_1", "imap.pod1", 993, "imaps")
    assert (context.imapc_options, context.exclude, context.phase, context.attempt) == (
        "-o x=y", "Trash", "cutover", 2)
    assert context.source_password == "pw"
    assert context.source_status_command == "doveadm mailbox status"
    assert "pw" not in repr(context)


def test_context_without_host_or_ruid():
    context = job_context(claimed(None, None), None)
    assert context.ruid == "alice"  # the remote uid defaults to the uid
    assert (context.source_port, context.imapc_ssl, context.source_status_command) == (
        None, None, None)
    plain = SourceHostRecord(source="POD_1", host="imap.pod1", port=143, ssl=False)
    assert job_context(claimed(plain, None), None).imapc_ssl == "no"
