"""Plain frozen values the repository takes and returns, so callers never hold ORM rows or sessions,
and the errors it raises. The API, the worker and the in-memory test repository share them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dmf.errors import NotFoundError, NotPossibleError
from dmf.migration_db.models import BackendCommand, BackendStatus, JobPhase, JobStatus


class AlreadyExistsError(NotPossibleError):
    """A target, source, source host or backend of that name is already stored (exit 65)."""


class InUseError(NotPossibleError):
    """Deleting it would orphan jobs or backends that still name it (exit 65)."""


class JobStateError(NotPossibleError):
    """The job's status does not allow the transition asked for (exit 65)."""


class InvalidValueError(NotPossibleError, ValueError):
    """A value out of its allowed range or form (empty name, bad port, ...): exit 65."""


class UnknownEntityError(NotFoundError):
    """A target, source, source host, backend or job that is not stored (exit 68)."""


@dataclass(frozen=True)
class WrappedPassword:
    """A source password as stored: AES-GCM ciphertext and IV (both base64) and the key's name."""

    ciphertext: str = field(repr=False)
    iv: str = field(repr=False)
    key_name: str


@dataclass(frozen=True)
class TargetRecord:
    name: str
    created: dt.datetime


@dataclass(frozen=True)
class SourceRecord:
    name: str
    created: dt.datetime


@dataclass(frozen=True)
class SourceHostRecord:
    source: str
    host: str
    port: int
    ssl: bool
    status_command: str | None = None


@dataclass(frozen=True)
class BackendRecord:
    """A worker as stored. `command` is the operator's pending order, if the worker has not
    taken it yet (see `MigrationRepository.take_command`)."""

    name: str
    target: str
    memberid: str
    initial_state: BackendStatus
    max_threads: int
    status: BackendStatus
    threads: int
    command: BackendCommand | None
    updated: dt.datetime
    heartbeat: dt.datetime | None


@dataclass(frozen=True)
class NewJob:
    """What a submission stores; priority: higher runs first."""

    target: str
    source: str
    uid: str
    phase: JobPhase = JobPhase.PRE_SYNC
    priority: int = 0
    ruid: str | None = None
    email: str | None = None
    source_host: str | None = None
    password: WrappedPassword | None = None
    imapcoptions: str | None = None
    exclude: str | None = None


@dataclass(frozen=True)
class JobRecord:
    id: int
    target: str
    source: str
    uid: str
    ruid: str | None
    email: str | None
    source_host: str | None
    password: WrappedPassword | None
    imapcoptions: str | None
    exclude: str | None
    phase: JobPhase
    priority: int
    status: JobStatus
    submitted: dt.datetime
    started: dt.datetime | None
    finished: dt.datetime | None
    attempts: int
    backend: str | None
    heartbeat: dt.datetime | None
    cancel_requested: bool
    details: list[Any]


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker now owns, with its source host's connection settings when the job names a
    stored host (None when it names none or the host was deleted since)."""

    job: JobRecord
    source_host: SourceHostRecord | None


@dataclass(frozen=True)
class JobFilter:
    """Conditions ANDed together; None means any. Sequences match any of their values."""

    target: str | None = None
    sources: Sequence[str] | None = None
    uid: str | None = None
    statuses: Sequence[JobStatus] | None = None
    phase: JobPhase | None = None
    backend: str | None = None
