"""All SQL of the migration database: catalogue (targets, sources, hosts), backends, and the queue.

Synchronous SQLAlchemy Core on one Engine; every public method is one short transaction and is
safe to call from several threads and processes at once. Times are naive UTC from this host's
clock (workers' clocks are assumed NTP-synchronised; heartbeat timeouts are tens of seconds),
except a PostgreSQL claim's `started`, which is the server's (see `_claim_whole`).

The queue's rules, and how they hold under concurrency:
- Claim order: priority (higher first), then submission time, then id; only QUEUED jobs of the
  worker's target and sources.
- One running job per (target, uid): a claim inserts (target, uid) into `running_users` (primary
  key) in the same transaction that marks the job RUNNING; finish, reclaim and requeue delete it.
- PostgreSQL / MariaDB: candidates are read `FOR UPDATE SKIP LOCKED`, so concurrent claimers take
  disjoint rows without waiting. SQLite: every transaction is `BEGIN IMMEDIATE` (see engine.py),
  so a claim runs alone.
- A deadlock between two claimers (possible on MariaDB's insert locks) is retried.
- Speed (bench/queue.py): the claim's and finish's statements are built once with bind
  parameters; on PostgreSQL each is a single autocommitted statement of data-modifying CTEs,
  one round trip instead of four or five, doing exactly what the portable path does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Text,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from dmf.errors import TemporaryError
from dmf.migration_db.engine import READ_ONLY_OPTION, check_server, open_engine
from dmf.migration_db.models import (
    EMAIL_LENGTH,
    FINISHED_STATUSES,
    NAME_LENGTH,
    Backend,
    BackendCommand,
    BackendStatus,
    Job,
    JobPhase,
    JobStatus,
    RunningUser,
    Source,
    SourceHost,
    Target,
)
from dmf.migration_db.records import (
    AlreadyExistsError,
    BackendRecord,
    ClaimedJob,
    InUseError,
    InvalidValueError,
    JobFilter,
    JobRecord,
    JobStateError,
    NewJob,
    SourceHostRecord,
    SourceRecord,
    TargetRecord,
    UnknownEntityError,
    WrappedPassword,
)
from dmf.migration_db.urls import database_url

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
MIGRATION_LOCK_ID = 0x646D66  # "dmf": PostgreSQL advisory lock key / MariaDB GET_LOCK name
DEADLOCK_RETRIES = 5

T = TypeVar("T")

_jobs = Job.__table__
_running = RunningUser.__table__
_backends = Backend.__table__
_hosts = SourceHost.__table__


def utcnow() -> dt.datetime:
    """Naive UTC, the form every timestamp column holds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class MigrationRepository:
    """The one gateway to the migration database (see the module doc for the queue's rules)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._claim = _claim_statements(engine.dialect.name)
        self._finish = _finish_statements(engine.dialect.name)

    @classmethod
    def connect(cls, url: str, username: str | None = None,
                password: str | None = None) -> MigrationRepository:
        """Open the database named by a configured URL (SQLAlchemy or JDBC form)."""
        return cls(open_engine(database_url(url, username, password)))

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        """Close pooled connections; the repository must not be used afterwards."""
        self._engine.dispose()

    # -- schema -----------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the schema to the newest revision. Idempotent, and safe when several workers
        start at once: the migration runs under a database-wide lock (PostgreSQL advisory lock,
        MariaDB GET_LOCK, SQLite's write lock) held until it is committed. Raises ConfigError
        on an unsupported server and TemporaryError when the database cannot be reached."""
        check_server(self._engine)
        config = Config(str(ALEMBIC_INI))
        config.set_main_option("script_location", str(ALEMBIC_INI.with_name("alembic")))
        mariadb = self._engine.dialect.name in ("mysql", "mariadb")
        with _unavailable_is_temporary(), self._engine.connect() as conn:
            if mariadb:
                # GET_LOCK belongs to the session, and is released only after the commit: a
                # worker let in before it would find no committed version row (the DDL is
                # committed at once, the version row is not) and run the migration again.
                got = conn.exec_driver_sql(f"SELECT GET_LOCK('dmf-{MIGRATION_LOCK_ID}', 120)")
                if got.scalar() != 1:
                    raise TemporaryError("timed out waiting for another worker's schema upgrade")
                conn.commit()
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":  # released by the commit
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
            finally:
                if mariadb:
                    conn.exec_driver_sql(f"SELECT RELEASE_LOCK('dmf-{MIGRATION_LOCK_ID}')")
                    conn.commit()

    # -- targets ----------------------------------------------------------------------------

    def create_target(self, name: str) -> TargetRecord:
        """Store a new target. AlreadyExistsError if one of that name exists."""
        _require_name("target", name)
        created = utcnow()
        self._insert_unique(Target.__table__, {"name": name, "created": created},
                            f"target {name!r} already exists")
        return TargetRecord(name, created)

    def list_targets(self) -> list[TargetRecord]:
        """All targets, by name."""
        table = Target.__table__
        with self._connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.name)).all()
        return [TargetRecord(row.name, row.created) for row in rows]

    def get_target(self, name: str) -> TargetRecord:
        """UnknownEntityError if absent."""
        table = Target.__table__
        with self._connect() as conn:
            row = conn.execute(select(table).where(table.c.name == name)).first()
        if row is None:
            raise UnknownEntityError(f"unknown target {name!r}")
        return TargetRecord(row.name, row.created)

    def delete_target(self, name: str) -> None:
        """Remove a target. UnknownEntityError if absent; InUseError while jobs or backends
        still name it (delete those first: nothing is dropped silently)."""
        table = Target.__table__
        with self._begin() as conn:
            for used_by, column in (("jobs", _jobs.c.target), ("backends", _backends.c.target)):
                if conn.execute(select(exists().where(column == name))).scalar():
                    raise InUseError(f"target {name!r} is still used by {used_by}")
            if conn.execute(delete(table).where(table.c.name == name)).rowcount == 0:
                raise UnknownEntityError(f"unknown target {name!r}")

    # -- sources and their hosts ------------------------------------------------------------

    def create_source(self, name: str) -> SourceRecord:
        """Store a new source platform. AlreadyExistsError if one of that name exists."""
        _require_name("source", name)
        created = utcnow()
        self._insert_unique(Source.__table__, {"name": name, "created": created},
                            f"source {name!r} already exists")
        return SourceRecord(name, created)

    def list_sources(self) -> list[SourceRecord]:
        """All sources, by name."""
        table = Source.__table__
        with self._connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.name)).all()
        return [SourceRecord(row.name, row.created) for row in rows]

    def get_source(self, name: str) -> SourceRecord:
        """UnknownEntityError if absent."""
        table = Source.__table__
        with self._connect() as conn:
            row = conn.execute(select(table).where(table.c.name == name)).first()
        if row is None:
            raise UnknownEntityError(f"unknown source {name!r}")
        return SourceRecord(row.name, row.created)

    def delete_source(self, name: str) -> None:
        """Remove a source and its hosts. UnknownEntityError if absent; InUseError while jobs
        name it."""
        table = Source.__table__
        with self._begin() as conn:
            if conn.execute(select(exists().where(_jobs.c.source == name))).scalar():
                raise InUseError(f"source {name!r} is still used by jobs")
            conn.execute(delete(_hosts).where(_hosts.c.source == name))
            if conn.execute(delete(table).where(table.c.name == name)).rowcount == 0:
                raise UnknownEntityError(f"unknown source {name!r}")

    def add_source_host(self, source: str, host: str, port: int, ssl: bool,
                        status_command: str | None = None) -> SourceHostRecord:
        """Store a host of a source. UnknownEntityError for an unknown source,
        AlreadyExistsError if the source already has that host, ValueError for a bad port."""
        _require_name("source host", host)
        _require_port(port)
        self.get_source(source)
        self._insert_unique(
            _hosts,
            {"source": source, "host": host, "port": port, "ssl": ssl,
             "status_command": status_command},
            f"source {source!r} already has host {host!r}",
        )
        return SourceHostRecord(source, host, port, ssl, status_command)

    def list_source_hosts(self, source: str) -> list[SourceHostRecord]:
        """The hosts of one source, by host name (UnknownEntityError for an unknown source)."""
        self.get_source(source)
        with self._connect() as conn:
            rows = conn.execute(
                select(_hosts).where(_hosts.c.source == source).order_by(_hosts.c.host)
            ).all()
        return [_host_record(row) for row in rows]

    def get_source_host(self, source: str, host: str) -> SourceHostRecord:
        """UnknownEntityError if the source has no such host."""
        with self._connect() as conn:
            row = conn.execute(
                select(_hosts).where(_hosts.c.source == source, _hosts.c.host == host)
            ).first()
        if row is None:
            raise UnknownEntityError(f"source {source!r} has no host {host!r}")
        return _host_record(row)

    def update_source_host(self, source: str, host: str, port: int, ssl: bool,
                           status_command: str | None = None) -> SourceHostRecord:
        """Replace a host's settings (all of them). UnknownEntityError if absent."""
        _require_port(port)
        with self._begin() as conn:
            result = conn.execute(
                sql_update(_hosts)
                .where(_hosts.c.source == source, _hosts.c.host == host)
                .values(port=port, ssl=ssl, status_command=status_command)
            )
        if result.rowcount == 0:
            raise UnknownEntityError(f"source {source!r} has no host {host!r}")
        return SourceHostRecord(source, host, port, ssl, status_command)

    def delete_source_host(self, source: str, host: str) -> None:
        """UnknownEntityError if absent. Jobs naming the host keep its name; a later claim
        returns them with `source_host=None`."""
        with self._begin() as conn:
            result = conn.execute(
                delete(_hosts).where(_hosts.c.source == source, _hosts.c.host == host)
            )
        if result.rowcount == 0:
            raise UnknownEntityError(f"source {source!r} has no host {host!r}")

    # -- backends ---------------------------------------------------------------------------

    def register_backend(self, target: str, memberid: str, initial_state: BackendStatus,
                         max_threads: int) -> BackendRecord:
        """Called by a worker at start. A new backend `target/memberid` is stored with the
        configured initial state and max threads (the target is created if missing); an
        existing one keeps its stored values, which win over the configuration (seed 2.2.7).
        Either way the status is STOPPED until the worker reports otherwise and any command
        left from a previous run is dropped."""
        _require_name("target", target)
        _require_name("memberid", memberid)
        if initial_state not in (BackendStatus.STOPPED, BackendStatus.STARTED):
            raise InvalidValueError("initial_state must be STOPPED (0) or STARTED (1)")
        _require_threads(max_threads)
        name = backend_name(target, memberid)
        now = utcnow()

        def register(conn: Connection) -> None:
            # Insert-or-ignore: workers of a new target may register at the same moment.
            dialect = conn.dialect.name
            conn.execute(_insert_ignore(dialect, Target.__table__).values(name=target, created=now))
            created = conn.execute(_insert_ignore(dialect, _backends).values(
                name=name, target=target, memberid=memberid, initial_state=int(initial_state),
                max_threads=max_threads, status=int(BackendStatus.STOPPED), threads=0,
                command=None, updated=now, heartbeat=now).returning(_backends.c.name)).first()
            if created is None:
                conn.execute(sql_update(_backends).where(_backends.c.name == name).values(
                    status=int(BackendStatus.STOPPED), threads=0, command=None, heartbeat=now))

        self._transaction(register)
        return self.get_backend(name)

    def get_backend(self, name: str) -> BackendRecord:
        """The backend as stored, pending command included. UnknownEntityError if absent."""
        with self._connect() as conn:
            row = conn.execute(select(_backends).where(_backends.c.name == name)).first()
        if row is None:
            raise UnknownEntityError(f"unknown backend {name!r}")
        return _backend_record(row)

    def list_backends(self, target: str) -> list[BackendRecord]:
        """The backends of one target, by name (empty for an unknown target)."""
        with self._connect() as conn:
            rows = conn.execute(
                select(_backends).where(_backends.c.target == target).order_by(_backends.c.name)
            ).all()
        return [_backend_record(row) for row in rows]

    def update_backend(self, name: str, *, command: BackendCommand | None = None,
                       max_threads: int | None = None,
                       initial_state: BackendStatus | None = None) -> BackendRecord:
        """The operator's PATCH: store a command for the worker to take, a new max threads,
        and/or a new initial state; arguments left None are unchanged. UnknownEntityError if
        absent, ValueError for an out-of-range value."""
        values: dict[str, Any] = {"updated": utcnow()}
        if command is not None:
            values["command"] = BackendCommand(command).value
        if max_threads is not None:
            _require_threads(max_threads)
            values["max_threads"] = max_threads
        if initial_state is not None:
            if initial_state not in (BackendStatus.STOPPED, BackendStatus.STARTED):
                raise InvalidValueError("initialState must be 0 (STOPPED) or 1 (STARTED)")
            values["initial_state"] = int(initial_state)
        with self._begin() as conn:
            result = conn.execute(
                sql_update(_backends).where(_backends.c.name == name).values(**values))
        if result.rowcount == 0:
            raise UnknownEntityError(f"unknown backend {name!r}")
        return self.get_backend(name)

    def take_command(self, name: str) -> BackendCommand | None:
        """Atomically read and clear the backend's pending command: each command is acted on
        once, and a restarted worker never replays an old STOP. UnknownEntityError if absent."""

        def take(conn: Connection) -> BackendCommand | None:
            row = conn.execute(
                select(_backends.c.command).where(_backends.c.name == name).with_for_update()
            ).first()
            if row is None:
                raise UnknownEntityError(f"unknown backend {name!r}")
            if row.command is None:
                return None
            conn.execute(sql_update(_backends).where(_backends.c.name == name).values(
                command=None))
            return BackendCommand(row.command)

        return self._transaction(take)

    def report_backend(self, name: str, status: BackendStatus, threads: int) -> BackendRecord:
        """The worker's periodic heartbeat: stores its status and running-job count. Returns
        the backend as stored (with the operator's max threads and pending command).
        UnknownEntityError if absent. It touches no job: the jobs the worker really runs keep
        their heartbeat through `heartbeat_jobs`, so a job it lost track of (its result could
        not be stored, or a previous run of the worker was killed) expires and is reclaimed."""
        with self._begin() as conn:
            result = conn.execute(sql_update(_backends).where(_backends.c.name == name).values(
                status=int(BackendStatus(status)), threads=threads, heartbeat=utcnow()))
            if result.rowcount == 0:
                raise UnknownEntityError(f"unknown backend {name!r}")
        return self.get_backend(name)

    # -- jobs: submission and administration ------------------------------------------------

    def submit_job(self, job: NewJob) -> JobRecord:
        """Queue one job. UnknownEntityError for an unknown target, source or source host."""
        (job_id,) = self.submit_jobs([job])
        return self.get_job(job_id)

    def submit_jobs(self, jobs: Sequence[NewJob]) -> list[int]:
        """Queue many jobs in one transaction (all or none); returns their ids in input order.
        Submission times increase strictly in input order, so equal priorities run in the
        order given. UnknownEntityError naming the first unknown target, source or host."""
        if not jobs:
            return []
        for job in jobs:
            _check_new_job(job)
        start = utcnow()
        rows = [_new_job_row(job, start + dt.timedelta(microseconds=index))
                for index, job in enumerate(jobs)]

        def submit(conn: Connection) -> list[int]:
            _check_references(conn, jobs)
            result = conn.execute(
                insert(_jobs).returning(_jobs.c.id, sort_by_parameter_order=True), rows)
            return [row.id for row in result]

        return self._transaction(submit)

    def get_job(self, job_id: int) -> JobRecord:
        """UnknownEntityError if absent."""
        with self._connect() as conn:
            row = conn.execute(select(_jobs).where(_jobs.c.id == job_id)).first()
        if row is None:
            raise UnknownEntityError(f"unknown job {job_id}")
        return _job_record(row)

    def list_jobs(self, filters: JobFilter | None = None, offset: int = 0,
                  limit: int = 100) -> list[JobRecord]:
        """Jobs matching the filter, newest submission first (then highest id)."""
        if offset < 0 or limit < 0:
            raise InvalidValueError("offset and limit must not be negative")
        query = (select(_jobs).where(*_filter_conditions(filters or JobFilter()))
                 .order_by(_jobs.c.submitted.desc(), _jobs.c.id.desc())
                 .offset(offset).limit(limit))
        with self._connect() as conn:
            return [_job_record(row) for row in conn.execute(query)]

    def count_jobs(self, filters: JobFilter | None = None) -> int:
        """How many jobs match the filter (for paging)."""
        query = select(func.count()).select_from(_jobs).where(
            *_filter_conditions(filters or JobFilter()))
        with self._connect() as conn:
            return int(conn.execute(query).scalar_one())

    def cancel_job(self, job_id: int) -> JobRecord:
        """QUEUED -> CANCELLED at once; RUNNING -> stays RUNNING with `cancel_requested`, which
        the owning worker learns from `heartbeat_jobs` and ends by finishing it CANCELLED.
        JobStateError for a finished job, UnknownEntityError for an unknown one."""

        def cancel(conn: Connection) -> None:
            status = self._locked_status(conn, job_id)
            if status is JobStatus.QUEUED:
                conn.execute(sql_update(_jobs).where(_jobs.c.id == job_id).values(
                    status=JobStatus.CANCELLED.value, finished=utcnow()))
            elif status is JobStatus.RUNNING:
                conn.execute(sql_update(_jobs).where(_jobs.c.id == job_id).values(
                    cancel_requested=True))
            else:
                raise JobStateError(f"job {job_id} is {status.value}: nothing to cancel")

        self._transaction(cancel)
        return self.get_job(job_id)

    def requeue_job(self, job_id: int) -> JobRecord:
        """SUCCESS / FAILURE / CANCELLED -> QUEUED with a fresh submission time, keeping its
        attempts and appending a `requeued` entry (previous status, time) to its details.
        JobStateError for a QUEUED or RUNNING job, UnknownEntityError for an unknown one."""

        def requeue(conn: Connection) -> None:
            status = self._locked_status(conn, job_id)
            if status not in FINISHED_STATUSES:
                raise JobStateError(f"job {job_id} is {status.value}: only finished jobs requeue")
            now = utcnow()
            note = {"requeued": {"previousStatus": status.value, "at": _iso(now)}}
            conn.execute(sql_update(_jobs).where(_jobs.c.id == job_id).values(
                status=JobStatus.QUEUED.value, submitted=now, started=None, finished=None,
                backend=None, heartbeat=None, cancel_requested=False,
                details=_details_plus(conn.dialect.name)), _details_params([note]))

        self._transaction(requeue)
        return self.get_job(job_id)

    # -- jobs: the worker's side ------------------------------------------------------------

    def peek_queued(self, target: str, sources: Sequence[str], limit: int) -> list[int]:
        """Ids of up to `limit` claimable jobs in claim order, without locking: the worker's
        local job cache (seed 2.2.9.1) refreshes from this and passes them to `claim`."""
        query = (select(_jobs.c.id).where(*_claimable(target, list(sources)))
                 .order_by(*_claim_order()).limit(limit))
        with self._connect() as conn:
            return list(conn.execute(query).scalars())

    def claim(self, backend_name: str, target: str, sources: Sequence[str], limit: int,
              candidates: Sequence[int] | None = None) -> list[ClaimedJob]:
        """Take up to `limit` QUEUED jobs of `target` and `sources` for the backend, in claim
        order (restricted to `candidates` when given): each becomes RUNNING with `started`,
        `heartbeat`, `backend` set and `attempts` + 1. Skips jobs whose user already runs a job
        in the target, and jobs another worker is claiming at the same moment; may therefore
        return fewer than `limit` (or none) while more are queued."""
        if limit <= 0 or not sources or (candidates is not None and not candidates):
            return []

        statements = self._claim
        params: dict[str, Any] = {"target": target, "sources": list(sources), "limit": limit}
        pick, whole = statements.pick, statements.whole
        if candidates is not None:
            pick, whole = statements.pick_among, statements.whole_among
            params["candidates"] = list(candidates)

        if whole is not None:  # PostgreSQL: the claim below as one autocommitted statement
            def take_at_once(conn: Connection) -> list[ClaimedJob]:
                rows = conn.execute(whole, {**params, "owner": backend_name})
                jobs = sorted((_job_record(row) for row in rows),
                              key=lambda job: (-job.priority, job.submitted, job.id))
                hosts = _hosts_of(conn, jobs) if jobs else {}
                return [ClaimedJob(job, hosts.get((job.source, job.source_host)))
                        for job in jobs]

            return self._transaction(take_at_once, autocommit=True)

        def take(conn: Connection) -> list[ClaimedJob]:
            first_per_user: dict[str, JobRecord] = {}
            for row in conn.execute(pick, params):
                first_per_user.setdefault(row.uid, _job_record(row))
            if not first_per_user:
                return []
            # Users inserted in uid order (claimers colliding on users lock in one order);
            # RETURNING yields only the rows inserted, i.e. the users this claim won.
            won = set(conn.execute(statements.hold_users, [
                {"target": target, "uid": uid, "job_id": first_per_user[uid].id}
                for uid in sorted(first_per_user)]).scalars())
            if not won:
                return []
            now = utcnow()
            conn.execute(statements.start, {"ids": list(won), "now": now, "owner": backend_name})
            jobs = [dataclasses.replace(job, status=JobStatus.RUNNING, started=now, heartbeat=now,
                                        backend=backend_name, attempts=job.attempts + 1,
                                        cancel_requested=False)
                    for job in first_per_user.values() if job.id in won]
            hosts = _hosts_of(conn, jobs)
            return [ClaimedJob(job, hosts.get((job.source, job.source_host))) for job in jobs]

        return self._transaction(take)

    def heartbeat_jobs(self, backend_name: str, job_ids: Iterable[int]) -> set[int]:
        """Refresh the heartbeat of the backend's running jobs among `job_ids`. Returns the ids
        the worker must stop: cancel requested by an operator, or no longer RUNNING under this
        backend (reclaimed after an expired heartbeat, or unknown)."""
        ids = list(job_ids)
        if not ids:
            return set()
        with self._begin() as conn:
            owned = (_jobs.c.id.in_(ids), _jobs.c.backend == backend_name,
                     _jobs.c.status == JobStatus.RUNNING.value)
            conn.execute(sql_update(_jobs).where(*owned).values(heartbeat=utcnow()))
            keep = set(conn.execute(select(_jobs.c.id).where(
                *owned, _jobs.c.cancel_requested.is_(False))).scalars())
        return set(ids) - keep

    def finish(self, job_id: int, backend_name: str, status: JobStatus,
               details: Sequence[Any]) -> bool:
        """End a run: SUCCESS, FAILURE or CANCELLED, with the run's details entries appended
        to the job's details; releases the user. Only if the job is still RUNNING under this
        backend: returns False (and changes nothing) when it was reclaimed meanwhile."""
        status = JobStatus(status)
        if status not in FINISHED_STATUSES:
            raise InvalidValueError(f"finish needs SUCCESS, FAILURE or CANCELLED: {status.value}")
        entries = list(details)
        try:
            json.dumps(entries)
        except (TypeError, ValueError) as error:
            raise InvalidValueError(f"job details are not JSON: {error}") from None

        params = {"job_id": job_id, "owner": backend_name, "new_status": status.value,
                  "finished_at": utcnow(), **_details_params(entries)}
        end_run, release = self._finish
        if release is None:  # PostgreSQL: one autocommitted statement
            return self._transaction(
                lambda conn: bool(conn.execute(end_run, params).one()[0]), autocommit=True)

        def end(conn: Connection) -> bool:
            if conn.execute(end_run, params).rowcount == 0:
                return False
            conn.execute(release, {"job_id": job_id})
            return True

        return self._transaction(end)

    def reclaim_expired(self, heartbeat_timeout_seconds: float) -> list[int]:
        """RUNNING jobs whose heartbeat is older than the timeout lost their worker: they go
        back to QUEUED (or to CANCELLED if a cancel was pending), the user is released, and a
        `reclaimed` entry (backend, last heartbeat, time) is appended to the details. Returns
        their ids. Any worker may call it; concurrent callers reclaim disjoint jobs."""
        if heartbeat_timeout_seconds <= 0:
            raise InvalidValueError("the heartbeat timeout must be positive")
        now = utcnow()
        deadline = now - dt.timedelta(seconds=heartbeat_timeout_seconds)

        def reclaim(conn: Connection) -> list[int]:
            rows = conn.execute(
                select(_jobs.c.id, _jobs.c.backend, _jobs.c.heartbeat, _jobs.c.cancel_requested)
                .where(_jobs.c.status == JobStatus.RUNNING.value, _jobs.c.heartbeat < deadline)
                .order_by(_jobs.c.id).with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                note = {"reclaimed": {
                    "backend": row.backend,
                    "lastHeartbeat": _iso(row.heartbeat),
                    "at": _iso(now),
                    "heartbeatTimeoutSeconds": heartbeat_timeout_seconds,
                }}
                next_status = JobStatus.CANCELLED if row.cancel_requested else JobStatus.QUEUED
                conn.execute(sql_update(_jobs).where(_jobs.c.id == row.id).values(
                    status=next_status.value, backend=None, heartbeat=None, started=None,
                    finished=now if next_status is JobStatus.CANCELLED else None,
                    details=_details_plus(conn.dialect.name)), _details_params([note]))
                conn.execute(delete(_running).where(_running.c.job_id == row.id))
            return [row.id for row in rows]

        return self._transaction(reclaim)

    # -- plumbing ---------------------------------------------------------------------------

    def _transaction(self, work: Callable[[Connection], T], autocommit: bool = False) -> T:
        """Run `work` in one transaction (or, with `autocommit`, as statements each committed
        on its own), retrying it when the database chose it as a deadlock victim (the work is
        repeatable: it reads everything it writes from). Every method's database errors other
        than constraint violations surface as TemporaryError."""
        for attempt in range(DEADLOCK_RETRIES):
            try:
                with self._autocommit() if autocommit else self._begin() as conn:
                    return work(conn)
            except _DeadlockError:
                if attempt == DEADLOCK_RETRIES - 1:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction; a lost or refused connection becomes a TemporaryError."""
        with _unavailable_is_temporary(), self._engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement commits on its own (single-statement writes)."""
        with (_unavailable_is_temporary(),
              self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn):
            yield conn

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A read-only connection; a lost or refused connection becomes a TemporaryError."""
        with (_unavailable_is_temporary(),
              self._engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as conn):
            yield conn

    def _insert_unique(self, table: Any, values: dict[str, Any], exists_message: str) -> None:
        try:
            with self._begin() as conn:
                conn.execute(insert(table).values(**values))
        except IntegrityError:
            raise AlreadyExistsError(exists_message) from None

    @staticmethod
    def _locked_status(conn: Connection, job_id: int) -> JobStatus:
        row = conn.execute(
            select(_jobs.c.status).where(_jobs.c.id == job_id).with_for_update()).first()
        if row is None:
            raise UnknownEntityError(f"unknown job {job_id}")
        return JobStatus(row.status)


def backend_name(target: str, memberid: str) -> str:
    """The seed's backend name: `target/memberid`."""
    return f"{target}/{memberid}"


def _claimable(target: Any, sources: Any) -> tuple[ColumnElement[bool], ...]:
    """Conditions of a claimable job; `target` and `sources` are values or bind parameters."""
    # NOT IN over the (small) set of the target's running users: PostgreSQL hashes it once,
    # where a correlated NOT EXISTS can get a nested loop over the whole queue.
    busy_users = select(_running.c.uid).where(_running.c.target == target)
    return (_jobs.c.status == JobStatus.QUEUED.value, _jobs.c.target == target,
            _jobs.c.source.in_(sources), _jobs.c.uid.not_in(busy_users))


def _claim_order() -> tuple[Any, ...]:
    return (_jobs.c.priority.desc(), _jobs.c.submitted, _jobs.c.id)


def _insert_ignore(dialect_name: str, table: Any) -> Any:
    """INSERT that silently skips rows whose primary key exists, per dialect."""
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect_name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return mysql.insert(table).prefix_with("IGNORE")


class _DeadlockError(TemporaryError):
    """The database aborted the transaction to break a deadlock: running it again succeeds."""


@contextlib.contextmanager
def _unavailable_is_temporary() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        if _is_deadlock(error):
            raise _DeadlockError("migration database: transaction kept deadlocking") from None
        lines = str(error.orig).strip().splitlines() or [type(error.orig).__name__]
        raise TemporaryError(f"migration database unavailable: {lines[0]}") from None


def _is_deadlock(error: DBAPIError) -> bool:
    orig = error.orig
    code = getattr(orig, "sqlstate", None)  # psycopg
    if code in ("40P01", "40001"):
        return True
    args = getattr(orig, "args", ())
    return bool(args) and args[0] in (1213, 1205)  # MariaDB deadlock / lock wait timeout


def _details_plus(dialect_name: str) -> Any:
    """SQL for "the stored details JSON array with more entries appended", so a write needs no
    read first; the entries come as the bind parameters `_details_params` makes. Stored details
    are always json.dumps output: "[]" or "[..., ...]"."""
    char_length = func.char_length if dialect_name in ("mysql", "mariadb") else func.length
    without_bracket = func.substr(_jobs.c.details, 1, char_length(_jobs.c.details) - 1,
                                  type_=Text)
    return case((_jobs.c.details == "[]", bindparam("details_whole", type_=Text)),
                else_=without_bracket + bindparam("details_tail", type_=Text))


def _details_params(entries: list[Any]) -> dict[str, str]:
    """Bind values for `_details_plus`: appending no entries leaves the details as they are."""
    added = json.dumps(entries)
    return {"details_whole": added, "details_tail": ", " + added[1:] if entries else "]"}


@dataclasses.dataclass(frozen=True)
class _ClaimStatements:
    """The claim's statements, built once per repository with bind parameters (a claim runs
    every poll of every worker): `pick` locks candidates in claim order (target, sources,
    limit), `pick_among` does so among given ids (+ candidates), `hold_users` inserts
    running_users rows returning the job ids won, `start` marks those jobs RUNNING (ids, now,
    owner). On PostgreSQL `whole` / `whole_among` do all of it in one statement (params of
    the first three, and owner), returning the claimed rows."""

    pick: Any
    pick_among: Any
    hold_users: Any
    start: Any
    whole: Any | None
    whole_among: Any | None


def _claim_statements(dialect_name: str) -> _ClaimStatements:
    pick = (select(_jobs)
            .where(*_claimable(bindparam("target"), bindparam("sources", expanding=True)))
            .order_by(*_claim_order()).limit(bindparam("limit", type_=Integer))
            .with_for_update(skip_locked=True, of=_jobs))
    pick_among = pick.where(_jobs.c.id.in_(bindparam("candidates", expanding=True)))
    if dialect_name in ("mysql", "mariadb"):
        # MariaDB's optimizer reads the candidate ids through the (source, id) foreign-key
        # index (EXPLAIN: range on fk_jobs_source_sources, filesort), a locking read of
        # secondary and clustered records under which concurrent claimers skipped free
        # candidates (bench/queue.py --cache 100, 8 workers: p99 claim 31-36 ms, 4-14 ms by
        # primary key). By primary key a claim reads and locks its candidates' rows only.
        pick_among = pick_among.with_hint(_jobs, "FORCE INDEX (PRIMARY)",
                                          dialect_name=dialect_name)
    return _ClaimStatements(
        pick=pick,
        pick_among=pick_among,
        hold_users=_insert_ignore(dialect_name, _running).returning(_running.c.job_id),
        start=(sql_update(_jobs)
               .where(_jobs.c.id.in_(bindparam("ids", expanding=True)))
               .values(status=JobStatus.RUNNING.value, started=bindparam("now"),
                       heartbeat=bindparam("now"), backend=bindparam("owner"),
                       attempts=_jobs.c.attempts + 1, cancel_requested=False)),
        whole=_claim_whole(among=False) if dialect_name == "postgresql" else None,
        whole_among=_claim_whole(among=True) if dialect_name == "postgresql" else None,
    )


def _claim_whole(among: bool) -> Any:
    """PostgreSQL's claim in one round trip: the same steps as the portable path (lock
    candidates in claim order, keep each user's first, insert-or-ignore them into
    running_users in uid order, mark the jobs won RUNNING) as data-modifying CTEs.

    `started` is the database's clock when the user's row was inserted, as the portable path
    takes it after that insert: a time taken before the statement reaches the database (a
    worker thread held up, a slow network), or now() (the statement's start, before any lock
    wait), could precede the `finished` of the user's previous job committed meanwhile."""
    restrict = "AND id IN :candidates" if among else ""
    statement = text(f"""
        WITH picked AS (
            SELECT id, uid, priority, submitted FROM jobs
            WHERE status = 'QUEUED' AND target = :target AND source IN :sources
              AND uid NOT IN (SELECT uid FROM running_users WHERE target = :target) {restrict}
            ORDER BY priority DESC, submitted, id
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
        ), first_per_user AS (
            SELECT DISTINCT ON (uid) id, uid FROM picked
            ORDER BY uid, priority DESC, submitted, id
        ), won AS (
            INSERT INTO running_users (target, uid, job_id)
            SELECT :target, uid, id FROM first_per_user ORDER BY uid
            ON CONFLICT DO NOTHING
            RETURNING job_id, clock_timestamp() AT TIME ZONE 'UTC' AS claimed_at
        )
        UPDATE jobs SET status = 'RUNNING', started = won.claimed_at,
            heartbeat = won.claimed_at, backend = :owner, attempts = jobs.attempts + 1,
            cancel_requested = false
        FROM won WHERE jobs.id = won.job_id
        RETURNING jobs.*""")
    expanding = [bindparam("sources", expanding=True)]
    if among:
        expanding.append(bindparam("candidates", expanding=True))
    return statement.bindparams(*expanding)


def _finish_statements(dialect_name: str) -> tuple[Any, Any | None]:
    """(end the run, release the user), built once per repository with bind parameters, since
    finish is the hottest write of the queue. On PostgreSQL both changes are one statement
    (data-modifying CTEs) run in autocommit: one round trip instead of BEGIN, UPDATE, DELETE and
    COMMIT; it returns the number of jobs ended (0 or 1)."""
    end_run = (sql_update(_jobs)
               .where(_jobs.c.id == bindparam("job_id"),
                      _jobs.c.backend == bindparam("owner"),
                      _jobs.c.status == JobStatus.RUNNING.value)
               .values(status=bindparam("new_status"), finished=bindparam("finished_at"),
                       heartbeat=None, details=_details_plus(dialect_name)))
    if dialect_name != "postgresql":
        return end_run, delete(_running).where(_running.c.job_id == bindparam("job_id"))
    ended = end_run.returning(_jobs.c.id).cte("ended")
    released = (delete(_running).where(_running.c.job_id.in_(select(ended.c.id)))
                .returning(_running.c.job_id).cte("released"))
    return select(select(func.count()).select_from(ended).scalar_subquery(),
                  select(func.count()).select_from(released).scalar_subquery()), None


def _hosts_of(conn: Connection,
              jobs: Sequence[JobRecord]) -> dict[tuple[str, str], SourceHostRecord]:
    """The stored hosts the jobs name, by (source, host): one query, none when no job names one."""
    wanted = {(job.source, job.source_host) for job in jobs if job.source_host is not None}
    if not wanted:
        return {}
    rows = conn.execute(select(_hosts).where(
        _hosts.c.source.in_({source for source, _ in wanted}),
        _hosts.c.host.in_({host for _, host in wanted})))
    return {(row.source, row.host): _host_record(row) for row in rows
            if (row.source, row.host) in wanted}


def _filter_conditions(filters: JobFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.target is not None:
        conditions.append(_jobs.c.target == filters.target)
    if filters.sources is not None:
        conditions.append(_jobs.c.source.in_(list(filters.sources)))
    if filters.uid is not None:
        conditions.append(_jobs.c.uid == filters.uid)
    if filters.statuses is not None:
        conditions.append(_jobs.c.status.in_([JobStatus(s).value for s in filters.statuses]))
    if filters.phase is not None:
        conditions.append(_jobs.c.phase == JobPhase(filters.phase).value)
    if filters.backend is not None:
        conditions.append(_jobs.c.backend == filters.backend)
    return conditions


def _check_references(conn: Connection, jobs: Sequence[NewJob]) -> None:
    targets = {job.target for job in jobs}
    sources = {job.source for job in jobs}
    known_targets = set(conn.execute(select(Target.__table__.c.name).where(
        Target.__table__.c.name.in_(targets))).scalars())
    known_sources = set(conn.execute(select(Source.__table__.c.name).where(
        Source.__table__.c.name.in_(sources))).scalars())
    known_hosts = {(row.source, row.host) for row in conn.execute(
        select(_hosts.c.source, _hosts.c.host).where(_hosts.c.source.in_(sources)))}
    for job in jobs:
        if job.target not in known_targets:
            raise UnknownEntityError(f"unknown target {job.target!r}")
        if job.source not in known_sources:
            raise UnknownEntityError(f"unknown source {job.source!r}")
        if job.source_host is not None and (job.source, job.source_host) not in known_hosts:
            raise UnknownEntityError(
                f"source {job.source!r} has no host {job.source_host!r}")


def _new_job_row(job: NewJob, submitted: dt.datetime) -> dict[str, Any]:
    password = job.password
    return {
        "target": job.target, "source": job.source, "uid": job.uid, "ruid": job.ruid,
        "email": job.email, "source_host": job.source_host,
        "password_ciphertext": password.ciphertext if password else None,
        "password_iv": password.iv if password else None,
        "password_key": password.key_name if password else None,
        "imapcoptions": job.imapcoptions, "exclude": job.exclude,
        "phase": JobPhase(job.phase).value, "priority": int(job.priority),
        "status": JobStatus.QUEUED.value, "submitted": submitted, "started": None,
        "finished": None, "attempts": 0, "backend": None, "heartbeat": None,
        "cancel_requested": False, "details": "[]",
    }


def _job_record(row: Row[Any]) -> JobRecord:
    password = None
    if row.password_ciphertext is not None:
        password = WrappedPassword(row.password_ciphertext, row.password_iv, row.password_key)
    return JobRecord(
        id=row.id, target=row.target, source=row.source, uid=row.uid, ruid=row.ruid,
        email=row.email, source_host=row.source_host, password=password,
        imapcoptions=row.imapcoptions, exclude=row.exclude, phase=JobPhase(row.phase),
        priority=row.priority, status=JobStatus(row.status), submitted=row.submitted,
        started=row.started, finished=row.finished, attempts=row.attempts,
        backend=row.backend, heartbeat=row.heartbeat,
        cancel_requested=bool(row.cancel_requested), details=json.loads(row.details),
    )


def _host_record(row: Row[Any]) -> SourceHostRecord:
    return SourceHostRecord(row.source, row.host, row.port, bool(row.ssl), row.status_command)


def _backend_record(row: Row[Any]) -> BackendRecord:
    return BackendRecord(
        name=row.name, target=row.target, memberid=row.memberid,
        initial_state=BackendStatus(row.initial_state), max_threads=row.max_threads,
        status=BackendStatus(row.status), threads=row.threads,
        command=BackendCommand(row.command) if row.command else None,
        updated=row.updated, heartbeat=row.heartbeat,
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds") + "Z"


def _require_name(what: str, value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > NAME_LENGTH:
        raise InvalidValueError(
            f"{what} must be a non-empty string of at most {NAME_LENGTH} characters")


def _check_new_job(job: NewJob) -> None:
    _require_name("uid", job.uid)
    for what, value, limit in (("ruid", job.ruid, NAME_LENGTH),
                               ("sourcehost", job.source_host, NAME_LENGTH),
                               ("email", job.email, EMAIL_LENGTH)):
        if value is not None and len(value) > limit:
            raise InvalidValueError(f"{what} is longer than {limit} characters")
    try:
        JobPhase(job.phase)
    except ValueError:
        raise InvalidValueError(
            f"phase must be 'pre-sync' or 'cutover', not {job.phase!r}") from None


def _require_port(port: int) -> None:
    if not 0 < port < 65536:
        raise InvalidValueError(f"port {port} is out of range 1-65535")


def _require_threads(max_threads: int) -> None:
    if max_threads < 0:
        raise InvalidValueError("maxThreads must not be negative")
