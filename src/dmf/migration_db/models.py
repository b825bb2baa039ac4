"""The migration database schema (SQLAlchemy 2 declarative) and the enums stored in it.

Decisions the rest of dmf relies on:
- A job carries the user's fields itself (uid, ruid, email, source host, wrapped password, ...):
  it is a snapshot of the user taken at submission, so a requeued job runs with exactly what was
  submitted and no separate users table can drift from it.
- Sources are platform-wide, not owned by a target: one source platform can be migrated into
  several targets, and a worker names the sources it serves.
- Priority: a higher number runs first; equal priorities run in submission order (then id).
- Enums are stored as short strings (or small integers for backend states) with CHECK
  constraints, never as native database enums, so the three dialects share one migration.
- Times are naive UTC with microseconds (`DATETIME(6)` on MariaDB).
- `running_users` holds one row per (target, uid) while that user has a RUNNING job: its primary
  key is what makes "never two running jobs of one user in one target" hold in the database
  itself (MariaDB has no partial unique index).
- On MariaDB every table uses `utf8mb4_nopad_bin`, so identifiers compare byte for byte, as they
  do on PostgreSQL and SQLite ("Alice" and "alice " are different users).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CLAIM_ORDER_INDEX = "ix_jobs_claim_order"
NAME_LENGTH = 255
EMAIL_LENGTH = 320


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELLED = "CANCELLED"


FINISHED_STATUSES = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED})


class JobPhase(enum.StrEnum):
    """Which configuration a job runs with: the worker's `sync` commands or its `cutover` ones."""

    PRE_SYNC = "pre-sync"
    CUTOVER = "cutover"


class BackendStatus(enum.IntEnum):
    """A worker's run state, as it reports it (and, for 0/1, its stored `initialState`).

    STOPPED (0): not polling, no jobs running. STARTED (1): polling and running jobs.
    PAUSED (2): not taking new jobs; running ones go on. STOPPING (3): shutting down, waiting for
    its running jobs up to the termination timeout.
    """

    STOPPED = 0
    STARTED = 1
    PAUSED = 2
    STOPPING = 3


class BackendCommand(enum.StrEnum):
    """An operator's order to a running worker, stored until the worker takes it."""

    PAUSE = "PAUSE"
    START = "START"
    STOP = "STOP"


def _check_in(column: str, values: enum.EnumMeta) -> str:
    quoted = ", ".join(f"'{member.value}'" for member in values)  # type: ignore[attr-defined]
    return f"{column} IN ({quoted})"


def _timestamp() -> DateTime:
    return DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _long_text() -> Text:
    # MariaDB's TEXT stops at 64 KiB; a long job's details array can outgrow it.
    return Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


# The "mariadb" dialect (mariadb+pymysql URLs) reads only mariadb_ options, "mysql" only mysql_.
_TABLE_OPTIONS = {
    f"{dialect}_{option}": value
    for dialect in ("mysql", "mariadb")
    for option, value in (("charset", "utf8mb4"), ("collate", "utf8mb4_nopad_bin"))
}


def autogenerate_filter(dialect_name: str) -> Callable[..., bool]:
    """Alembic `include_object` hook: SQLAlchemy reflects no index sort order on SQLite and
    MariaDB, so there the claim-order index (with `priority DESC`) would always look changed;
    leave it out of the comparison on those databases."""

    def include(_obj: object, name: str | None, type_: str, _reflected: bool,
                _compare_to: object) -> bool:
        return not (type_ == "index" and name == CLAIM_ORDER_INDEX
                    and dialect_name != "postgresql")

    return include


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Target(Base):
    __tablename__ = "targets"
    __table_args__ = (_TABLE_OPTIONS,)

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(_timestamp())


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (_TABLE_OPTIONS,)

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(_timestamp())


class SourceHost(Base):
    """One IMAP/doveadm host of a source platform; jobs name it by `host` within their source."""

    __tablename__ = "source_hosts"
    __table_args__ = (
        UniqueConstraint("source", "host"),
        CheckConstraint("port > 0 AND port < 65536", name="port"),
        _TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(
        String(NAME_LENGTH), ForeignKey("sources.name", ondelete="CASCADE")
    )
    host: Mapped[str] = mapped_column(String(NAME_LENGTH))
    port: Mapped[int] = mapped_column(Integer)
    ssl: Mapped[bool] = mapped_column(Boolean)
    status_command: Mapped[str | None] = mapped_column(_long_text())


class Backend(Base):
    """A registered worker, named `target/memberid`."""

    __tablename__ = "backends"
    __table_args__ = (
        UniqueConstraint("target", "memberid"),
        CheckConstraint("initial_state IN (0, 1)", name="initial_state"),
        CheckConstraint("status IN (0, 1, 2, 3)", name="status"),
        CheckConstraint("max_threads >= 0", name="max_threads"),
        CheckConstraint(_check_in("command", BackendCommand), name="command"),
        _TABLE_OPTIONS,
    )

    name: Mapped[str] = mapped_column(String(2 * NAME_LENGTH + 1), primary_key=True)
    target: Mapped[str] = mapped_column(String(NAME_LENGTH), ForeignKey("targets.name"))
    memberid: Mapped[str] = mapped_column(String(NAME_LENGTH))
    initial_state: Mapped[int] = mapped_column(Integer)
    max_threads: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    threads: Mapped[int] = mapped_column(Integer)
    command: Mapped[str | None] = mapped_column(String(16))
    updated: Mapped[dt.datetime] = mapped_column(_timestamp())
    heartbeat: Mapped[dt.datetime | None] = mapped_column(_timestamp())


class Job(Base):
    """One migration run of one user into one target."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_check_in("status", JobStatus), name="status"),
        CheckConstraint(_check_in("phase", JobPhase), name="phase"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # The claim order, so a claim walks the index and stops after its LIMIT.
        Index(CLAIM_ORDER_INDEX, "target", "status", text("priority DESC"), "submitted", "id"),
        Index(None, "backend", "status"),
        Index(None, "uid"),
        _TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(NAME_LENGTH), ForeignKey("targets.name"))
    source: Mapped[str] = mapped_column(String(NAME_LENGTH), ForeignKey("sources.name"))
    uid: Mapped[str] = mapped_column(String(NAME_LENGTH))
    ruid: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    source_host: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    password_ciphertext: Mapped[str | None] = mapped_column(_long_text())
    password_iv: Mapped[str | None] = mapped_column(String(64))
    password_key: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    imapcoptions: Mapped[str | None] = mapped_column(_long_text())
    exclude: Mapped[str | None] = mapped_column(_long_text())
    phase: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    submitted: Mapped[dt.datetime] = mapped_column(_timestamp())
    started: Mapped[dt.datetime | None] = mapped_column(_timestamp())
    finished: Mapped[dt.datetime | None] = mapped_column(_timestamp())
    attempts: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str | None] = mapped_column(String(2 * NAME_LENGTH + 1))
    heartbeat: Mapped[dt.datetime | None] = mapped_column(_timestamp())
    cancel_requested: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[str] = mapped_column(_long_text())


class RunningUser(Base):
    """Present exactly while the user has a RUNNING job in the target (see the module doc)."""

    __tablename__ = "running_users"
    __table_args__ = (Index(None, "job_id"), _TABLE_OPTIONS)

    target: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    uid: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("jobs.id", ondelete="CASCADE"))
