"""Every MigrationRepository method, on SQLite, PostgreSQL and MariaDB (the db_url fixture)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event

from dmf.migration_db.models import BackendCommand, BackendStatus, JobPhase, JobStatus
from dmf.migration_db.records import (
    AlreadyExistsError,
    InUseError,
    InvalidValueError,
    JobFilter,
    JobStateError,
    NewJob,
    SourceHostRecord,
    UnknownEntityError,
    WrappedPassword,
)
from dmf.migration_db.repository import MigrationRepository

# SQL and shell metacharacters, quotes, backslashes, non-ASCII and emoji.
NASTY = "x'; DROP TABLE jobs; -- \"%_\\ $(rm -rf /) `id` ; | & <> ümlaut 📧"


@pytest.fixture
def repo(migration_repository: MigrationRepository) -> MigrationRepository:
    migration_repository.create_target("cloud")
    migration_repository.create_source("POD_1")
    migration_repository.create_source("POD_2")
    return migration_repository


def _job(uid: str, **fields: object) -> NewJob:
    return NewJob(target=fields.pop("target", "cloud"), source=fields.pop("source", "POD_1"),
                  uid=uid, **fields)  # type: ignore[arg-type]


def test_upgrade_is_idempotent(migration_repository: MigrationRepository) -> None:
    migration_repository.create_target("t")
    migration_repository.upgrade()
    assert [t.name for t in migration_repository.list_targets()] == ["t"]


def test_targets_crud(migration_repository: MigrationRepository) -> None:
    repo = migration_repository
    repo.create_target("b")
    repo.create_target("a")
    assert [t.name for t in repo.list_targets()] == ["a", "b"]
    assert repo.get_target("a").name == "a"
    with pytest.raises(AlreadyExistsError):
        repo.create_target("a")
    repo.delete_target("a")
    with pytest.raises(UnknownEntityError):
        repo.get_target("a")
    with pytest.raises(UnknownEntityError):
        repo.delete_target("a")
    with pytest.raises(InvalidValueError):
        repo.create_target("")


def test_identifiers_compare_exactly(migration_repository: MigrationRepository) -> None:
    """Case and trailing spaces make different names on every database (MariaDB's default
    collation would merge them)."""
    repo = migration_repository
    for name in ("cloud", "Cloud", "cloud "):
        repo.create_target(name)
    assert [t.name for t in repo.list_targets()] == ["Cloud", "cloud", "cloud "]


def test_target_in_use_is_not_deleted(repo: MigrationRepository) -> None:
    repo.submit_job(_job("u1"))
    with pytest.raises(InUseError):
        repo.delete_target("cloud")
    with pytest.raises(InUseError):
        repo.delete_source("POD_1")
    assert repo.get_target("cloud").name == "cloud"


def test_sources_and_hosts_crud(repo: MigrationRepository) -> None:
    assert [s.name for s in repo.list_sources()] == ["POD_1", "POD_2"]
    with pytest.raises(AlreadyExistsError):
        repo.create_source("POD_1")
    host = repo.add_source_host("POD_1", "imap2.example", 993, True, "doveadm -f tab x")
    repo.add_source_host("POD_1", "imap1.example", 143, False)
    assert host == SourceHostRecord("POD_1", "imap2.example", 993, True, "doveadm -f tab x")
    assert [h.host for h in repo.list_source_hosts("POD_1")] == ["imap1.example",
                                                                 "imap2.example"]
    assert repo.get_source_host("POD_1", "imap2.example") == host
    with pytest.raises(AlreadyExistsError):
        repo.add_source_host("POD_1", "imap1.example", 143, False)
    with pytest.raises(UnknownEntityError):
        repo.add_source_host("nope", "h", 143, False)
    with pytest.raises(InvalidValueError):
        repo.add_source_host("POD_1", "h", 0, False)
    updated = repo.update_source_host("POD_1", "imap1.example", 1143, True, None)
    assert repo.get_source_host("POD_1", "imap1.example") == updated
    assert updated.port == 1143 and updated.ssl
    repo.delete_source_host("POD_1", "imap1.example")
    with pytest.raises(UnknownEntityError):
        repo.get_source_host("POD_1", "imap1.example")
    with pytest.raises(UnknownEntityError):
        repo.update_source_host("POD_1", "imap1.example", 1, False)
    repo.delete_source("POD_1")  # takes its hosts along
    with pytest.raises(UnknownEntityError):
        repo.list_source_hosts("POD_1")


def test_register_backend_stored_state_wins(repo: MigrationRepository) -> None:
    first = repo.register_backend("cloud", "1", BackendStatus.STOPPED, 10)
    assert first.name == "cloud/1"
    assert (first.initial_state, first.max_threads, first.status) == (
        BackendStatus.STOPPED, 10, BackendStatus.STOPPED)
    repo.update_backend("cloud/1", max_threads=120, initial_state=BackendStatus.STARTED,
                        command=BackendCommand.STOP)
    again = repo.register_backend("cloud", "1", BackendStatus.STOPPED, 5)
    assert (again.initial_state, again.max_threads) == (BackendStatus.STARTED, 120)
    assert again.command is None  # a restarted worker does not replay an old STOP


def test_register_backend_creates_its_target(migration_repository: MigrationRepository) -> None:
    backend = migration_repository.register_backend("new", "a/b", BackendStatus.STARTED, 1)
    assert backend.name == "new/a/b"
    assert migration_repository.get_target("new").name == "new"


def test_workers_of_a_new_target_register_at_once(
        migration_repository: MigrationRepository) -> None:
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda n: migration_repository.register_backend(
            "fresh", str(n), BackendStatus.STARTED, 2).name, range(8)))
    assert sorted(names) == sorted(f"fresh/{n}" for n in range(8))
    assert [t.name for t in migration_repository.list_targets()] == ["fresh"]


def test_backend_commands_and_reports(repo: MigrationRepository) -> None:
    repo.register_backend("cloud", "2", BackendStatus.STARTED, 4)
    repo.register_backend("cloud", "1", BackendStatus.STARTED, 4)
    assert [b.name for b in repo.list_backends("cloud")] == ["cloud/1", "cloud/2"]
    assert repo.list_backends("other") == []
    assert repo.take_command("cloud/1") is None
    paused = repo.update_backend("cloud/1", command=BackendCommand.PAUSE)
    assert paused.command is BackendCommand.PAUSE
    assert repo.get_backend("cloud/1").command is BackendCommand.PAUSE
    assert repo.take_command("cloud/1") is BackendCommand.PAUSE
    assert repo.take_command("cloud/1") is None
    report = repo.report_backend("cloud/1", BackendStatus.PAUSED, 3)
    assert (report.status, report.threads) == (BackendStatus.PAUSED, 3)
    with pytest.raises(UnknownEntityError):
        repo.get_backend("cloud/9")
    with pytest.raises(UnknownEntityError):
        repo.update_backend("cloud/9", max_threads=1)
    with pytest.raises(UnknownEntityError):
        repo.report_backend("cloud/9", BackendStatus.STARTED, 0)
    with pytest.raises(UnknownEntityError):
        repo.take_command("cloud/9")
    with pytest.raises(InvalidValueError):
        repo.update_backend("cloud/1", max_threads=-1)
    with pytest.raises(InvalidValueError):
        repo.update_backend("cloud/1", initial_state=BackendStatus.PAUSED)


def test_submit_and_read_back_every_field_verbatim(repo: MigrationRepository) -> None:
    repo.create_source(NASTY)
    repo.add_source_host(NASTY, NASTY, 143, False, NASTY)
    wrapped = WrappedPassword(NASTY, NASTY[:60], NASTY)
    job = repo.submit_job(NewJob(target="cloud", source=NASTY, uid=NASTY, ruid=NASTY,
                                 email=NASTY, source_host=NASTY, password=wrapped,
                                 imapcoptions=NASTY, exclude=NASTY, phase=JobPhase.CUTOVER,
                                 priority=-7))
    stored = repo.get_job(job.id)
    assert (stored.source, stored.uid, stored.ruid, stored.email, stored.source_host,
            stored.imapcoptions, stored.exclude) == (NASTY,) * 7
    assert stored.password == wrapped
    assert (stored.phase, stored.priority, stored.status, stored.attempts) == (
        JobPhase.CUTOVER, -7, JobStatus.QUEUED, 0)
    assert stored.details == []
    (claimed,) = repo.claim("cloud/1", "cloud", [NASTY], 5)
    assert claimed.job.uid == NASTY
    assert claimed.source_host == SourceHostRecord(NASTY, NASTY, 143, False, NASTY)
    assert repo.finish(job.id, "cloud/1", JobStatus.SUCCESS, [{"dsync": {"command": NASTY}}])
    assert repo.get_job(job.id).details == [{"dsync": {"command": NASTY}}]
    assert repo.list_jobs(JobFilter(uid=NASTY))[0].id == job.id


def test_submit_rejects_unknown_references_atomically(repo: MigrationRepository) -> None:
    with pytest.raises(UnknownEntityError, match="target 'nope'"):
        repo.submit_jobs([_job("a"), _job("b", target="nope")])
    with pytest.raises(UnknownEntityError, match="source 'nope'"):
        repo.submit_job(_job("a", source="nope"))
    with pytest.raises(UnknownEntityError, match="no host 'h'"):
        repo.submit_job(_job("a", source_host="h"))
    assert repo.count_jobs() == 0


def test_list_and_count_with_filters_and_paging(repo: MigrationRepository) -> None:
    ids = repo.submit_jobs([_job(f"u{i}", source="POD_1" if i % 2 else "POD_2",
                                 phase=JobPhase.CUTOVER if i % 3 == 0 else JobPhase.PRE_SYNC)
                            for i in range(10)])
    assert ids == sorted(ids) and len(set(ids)) == 10
    newest_first = [job.id for job in repo.list_jobs(limit=100)]
    assert newest_first == list(reversed(ids))
    assert [job.id for job in repo.list_jobs(offset=2, limit=3)] == newest_first[2:5]
    assert repo.count_jobs(JobFilter(sources=["POD_1"])) == 5
    assert repo.count_jobs(JobFilter(phase=JobPhase.CUTOVER)) == 4
    assert repo.count_jobs(JobFilter(target="other")) == 0
    repo.claim("cloud/1", "cloud", ["POD_1"], 2)
    assert repo.count_jobs(JobFilter(statuses=[JobStatus.RUNNING])) == 2
    assert repo.count_jobs(JobFilter(backend="cloud/1")) == 2
    assert repo.count_jobs(JobFilter(statuses=[JobStatus.RUNNING, JobStatus.QUEUED])) == 10
    with pytest.raises(UnknownEntityError):
        repo.get_job(10**6)


def test_claim_order_priority_then_submission(repo: MigrationRepository) -> None:
    ids = repo.submit_jobs([_job("a", priority=0), _job("b", priority=5),
                            _job("c", priority=0), _job("d", priority=5)])
    assert repo.peek_queued("cloud", ["POD_1"], 10) == [ids[1], ids[3], ids[0], ids[2]]
    claimed = repo.claim("cloud/1", "cloud", ["POD_1"], 3)
    assert [c.job.id for c in claimed] == [ids[1], ids[3], ids[0]]
    job = claimed[0].job
    assert (job.status, job.backend, job.attempts) == (JobStatus.RUNNING, "cloud/1", 1)
    assert job.started is not None and job.heartbeat is not None
    assert repo.peek_queued("cloud", ["POD_1"], 10) == [ids[2]]


def test_claim_only_own_target_and_sources(repo: MigrationRepository) -> None:
    repo.create_target("other")
    repo.submit_jobs([_job("a", source="POD_2"), _job("b", target="other")])
    assert repo.claim("cloud/1", "cloud", ["POD_1"], 10) == []
    assert repo.peek_queued("cloud", ["POD_1"], 10) == []
    assert [c.job.uid for c in repo.claim("cloud/1", "cloud", ["POD_1", "POD_2"], 10)] == ["a"]


def test_claim_never_runs_two_jobs_of_one_user(repo: MigrationRepository) -> None:
    first, second, other = repo.submit_jobs([_job("u"), _job("u"), _job("v")])
    assert [c.job.id for c in repo.claim("b/1", "cloud", ["POD_1"], 10)] == [first, other]
    assert repo.claim("b/2", "cloud", ["POD_1"], 10) == []
    assert repo.peek_queued("cloud", ["POD_1"], 10) == []
    assert repo.finish(first, "b/1", JobStatus.FAILURE, [])
    assert [c.job.id for c in repo.claim("b/2", "cloud", ["POD_1"], 10)] == [second]


def test_same_uid_in_another_target_may_run(repo: MigrationRepository) -> None:
    repo.create_target("other")
    repo.submit_jobs([_job("u"), _job("u", target="other")])
    assert len(repo.claim("a/1", "cloud", ["POD_1"], 10)) == 1
    assert len(repo.claim("b/1", "other", ["POD_1"], 10)) == 1


def test_claim_restricted_to_candidates(repo: MigrationRepository) -> None:
    ids = repo.submit_jobs([_job(f"u{i}", priority=i) for i in range(4)])
    claimed = repo.claim("cloud/1", "cloud", ["POD_1"], 10, candidates=[ids[0], ids[2]])
    assert [c.job.id for c in claimed] == [ids[2], ids[0]]
    assert repo.claim("cloud/1", "cloud", ["POD_1"], 10, candidates=[ids[0]]) == []
    assert repo.claim("cloud/1", "cloud", ["POD_1"], 10, candidates=[]) == []


def test_a_claim_delayed_on_the_way_starts_after_the_previous_job_finished(
        repo: MigrationRepository, db_url: str) -> None:
    """`started` is when the job was really claimed: a claim whose statement reaches the
    database late (a busy worker host, a slow network) while the user's previous job finishes
    meanwhile must not date its start before that job's end."""
    first, second = repo.submit_jobs([_job("u", priority=1), _job("u", priority=0)])
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    late = MigrationRepository.connect(db_url)
    late.get_job(first)  # connected before the delay is armed
    delaying, armed, finished = threading.Event(), threading.Event(), threading.Event()
    armed.set()

    @event.listens_for(late.engine, "before_cursor_execute")
    def _delay_first_statement(*_args: Any) -> None:
        if armed.is_set():  # held until the previous job has finished, however long that takes
            armed.clear()
            delaying.set()
            finished.wait(30)

    try:
        with ThreadPoolExecutor(1) as pool:
            claiming = pool.submit(late.claim, "cloud/2", "cloud", ["POD_1"], 1)
            assert delaying.wait(30)
            assert repo.finish(first, "cloud/1", JobStatus.SUCCESS, [])
            finished.set()
            (claimed,) = claiming.result(timeout=30)
    finally:
        late.close()
    assert claimed.job.id == second
    previous, job = repo.get_job(first), repo.get_job(second)
    assert previous.finished <= job.started == claimed.job.started


def test_finish_only_by_owner_and_only_once(repo: MigrationRepository) -> None:
    (job_id,) = repo.submit_jobs([_job("u")])
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    assert not repo.finish(job_id, "cloud/2", JobStatus.SUCCESS, [{"x": 1}])
    assert repo.finish(job_id, "cloud/1", JobStatus.SUCCESS, [{"x": 1}])
    assert not repo.finish(job_id, "cloud/1", JobStatus.FAILURE, [{"y": 2}])
    job = repo.get_job(job_id)
    assert (job.status, job.details) == (JobStatus.SUCCESS, [{"x": 1}])
    assert job.finished is not None
    with pytest.raises(InvalidValueError):
        repo.finish(job_id, "cloud/1", JobStatus.RUNNING, [])
    with pytest.raises(InvalidValueError):
        repo.finish(job_id, "cloud/1", JobStatus.SUCCESS, [object()])


def test_heartbeats_and_reclaim(repo: MigrationRepository) -> None:
    lost, kept = repo.submit_jobs([_job("lost"), _job("kept")])
    repo.register_backend("cloud", "1", BackendStatus.STARTED, 1)
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    repo.register_backend("cloud", "2", BackendStatus.STARTED, 1)
    repo.claim("cloud/2", "cloud", ["POD_1"], 1)
    before = repo.get_job(lost).heartbeat
    time.sleep(1.2)
    assert repo.heartbeat_jobs("cloud/2", [kept]) == set()
    assert repo.heartbeat_jobs("cloud/1", []) == set()
    # A live worker's status report keeps no job alive that it does not hold any more (a job
    # whose result could not be stored, or one left by its own killed previous run).
    repo.report_backend("cloud/1", BackendStatus.STARTED, 0)
    assert repo.reclaim_expired(1.0) == [lost]
    job = repo.get_job(lost)
    assert (job.status, job.backend, job.attempts) == (JobStatus.QUEUED, None, 1)
    (entry,) = job.details
    assert entry["reclaimed"]["backend"] == "cloud/1"
    assert entry["reclaimed"]["lastHeartbeat"].startswith(before.isoformat()[:19])
    assert repo.get_job(kept).status is JobStatus.RUNNING
    # The dead worker's late calls change nothing and tell it to stop.
    assert repo.heartbeat_jobs("cloud/1", [lost]) == {lost}
    assert not repo.finish(lost, "cloud/1", JobStatus.SUCCESS, [])
    # Another worker takes it; attempts count both runs and the history is kept.
    (again,) = repo.claim("cloud/2", "cloud", ["POD_1"], 5)
    assert (again.job.id, again.job.attempts) == (lost, 2)
    assert repo.heartbeat_jobs("cloud/2", [lost, kept]) == set()
    assert repo.finish(lost, "cloud/2", JobStatus.SUCCESS, [{"dsync": {"success": True}}])
    assert [next(iter(e)) for e in repo.get_job(lost).details] == ["reclaimed", "dsync"]
    with pytest.raises(InvalidValueError):
        repo.reclaim_expired(0)


def test_cancel_queued_and_running(repo: MigrationRepository) -> None:
    queued, running = repo.submit_jobs([_job("a", priority=0), _job("b", priority=9)])
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    cancelled = repo.cancel_job(queued)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished is not None
    flagged = repo.cancel_job(running)
    assert (flagged.status, flagged.cancel_requested) == (JobStatus.RUNNING, True)
    assert repo.heartbeat_jobs("cloud/1", [running]) == {running}
    assert repo.finish(running, "cloud/1", JobStatus.CANCELLED, [])
    with pytest.raises(JobStateError):
        repo.cancel_job(running)
    with pytest.raises(UnknownEntityError):
        repo.cancel_job(10**6)


def test_cancel_pending_when_heartbeat_expires_ends_cancelled(repo: MigrationRepository) -> None:
    (job_id,) = repo.submit_jobs([_job("a")])
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    repo.cancel_job(job_id)
    time.sleep(0.3)
    assert repo.reclaim_expired(0.2) == [job_id]
    assert repo.get_job(job_id).status is JobStatus.CANCELLED
    assert repo.peek_queued("cloud", ["POD_1"], 5) == []


def test_requeue_finished_jobs_only(repo: MigrationRepository) -> None:
    (job_id,) = repo.submit_jobs([_job("a")])
    with pytest.raises(JobStateError):
        repo.requeue_job(job_id)
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    with pytest.raises(JobStateError):
        repo.requeue_job(job_id)
    repo.finish(job_id, "cloud/1", JobStatus.FAILURE, [{"dsync": {"success": False}}])
    requeued = repo.requeue_job(job_id)
    assert (requeued.status, requeued.backend, requeued.finished) == (JobStatus.QUEUED, None,
                                                                      None)
    assert requeued.details[-1]["requeued"]["previousStatus"] == "FAILURE"
    assert [c.job.attempts for c in repo.claim("cloud/2", "cloud", ["POD_1"], 1)] == [2]
    with pytest.raises(UnknownEntityError):
        repo.requeue_job(10**6)



def test_submit_rejects_bad_values_and_stores_nothing(repo: MigrationRepository) -> None:
    for bad in (_job("u", email="a" * 321), _job("u", ruid="r" * 256), _job(""),
                _job("u", phase="migrate")):
        with pytest.raises(InvalidValueError):
            repo.submit_jobs([_job("fine"), bad])
    assert repo.count_jobs() == 0


def test_details_beyond_64_kib(repo: MigrationRepository) -> None:
    """MariaDB's TEXT would cut a long job's history; details are LONGTEXT there."""
    (job_id,) = repo.submit_jobs([_job("u")])
    big = [{"dsync": {"errors": ["e" * 1000] * 40}}] * 3  # about 120 KB of JSON
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    assert repo.finish(job_id, "cloud/1", JobStatus.FAILURE, big)
    repo.requeue_job(job_id)
    repo.claim("cloud/1", "cloud", ["POD_1"], 1)
    assert repo.finish(job_id, "cloud/1", JobStatus.SUCCESS, big)
    details = repo.get_job(job_id).details
    assert details[:3] == big and details[4:] == big
    assert details[3]["requeued"]["previousStatus"] == "FAILURE"
