"""Request and response bodies of the admin API, in the seed's JSON spelling (camelCase:
`maxThreads`, `initialState`).

Every string a client sends ends up in a database column, so each is bounded to what every
supported database stores (255 characters for names, 320 for an e-mail, 4096 for free text) and
must be storable text (no NUL, no lone surrogate): bad input is a 422 naming the field, never a
database error. Names are single-line text; free-text fields take any text. Within those
bounds values are kept verbatim: shell or SQL metacharacters are data here.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
)

from dmf.migration_db.models import BackendCommand, BackendStatus, JobPhase, JobStatus

NAME_MAX = 255
EMAIL_MAX = 320
TEXT_MAX = 4096
PASSWORD_MAX = 1024
INT32_MAX = 2**31 - 1
MAX_THREADS_MAX = 100_000


def storable(value: str) -> str:
    """Text every supported database keeps as sent (PostgreSQL refuses NUL; UTF-8 has no
    lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def printable_name(value: str) -> str:
    """Names (targets, users, hosts) are one line: control characters in one are a client's
    mistake, and a newline could not even travel in a URL path segment."""
    storable(value)
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("must not contain control characters (tab, newline, ...)")
    return value


def _no_slash(value: str) -> str:
    if "/" in value:
        raise ValueError("must not contain '/' (it separates target and member in backend names)")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX),
                 AfterValidator(printable_name)]
EntityName = Annotated[Name, AfterValidator(_no_slash)]
Email = Annotated[str, StringConstraints(max_length=EMAIL_MAX), AfterValidator(storable)]
FreeText = Annotated[str, StringConstraints(max_length=TEXT_MAX), AfterValidator(storable)]
Priority = Annotated[int, Field(ge=-INT32_MAX, le=INT32_MAX)]
Port = Annotated[int, Field(ge=1, le=65535)]
MaxThreads = Annotated[int, Field(ge=0, le=MAX_THREADS_MAX)]


def _storable_secret(value: SecretStr) -> SecretStr:
    storable(value.get_secret_value())
    return value


Password = Annotated[SecretStr, Field(min_length=1, max_length=PASSWORD_MAX),
                     AfterValidator(_storable_secret)]


def _as_utc(moment: dt.datetime) -> dt.datetime:
    # The database keeps naive UTC; clients get it marked, e.g. 2021-04-12T21:34:56.000Z.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


UtcTime = Annotated[dt.datetime, AfterValidator(_as_utc)]


class ApiModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class TargetIn(ApiModel):
    name: EntityName


class TargetOut(ApiModel):
    name: str
    created: UtcTime


class SourceIn(ApiModel):
    name: EntityName


class SourceOut(ApiModel):
    name: str
    created: UtcTime


class SourceHostSettings(ApiModel):
    port: Port
    ssl: bool = False
    status_command: FreeText | None = Field(default=None, alias="statusCommand")


class SourceHostIn(SourceHostSettings):
    host: Name


class SourceHostOut(ApiModel):
    source: str
    host: str
    port: int
    ssl: bool
    status_command: str | None = Field(alias="statusCommand")


class BackendOut(ApiModel):
    """As the seed's GET shows it; `status` 0 STOPPED, 1 STARTED, 2 PAUSED, 3 STOPPING."""

    name: str
    target: str
    memberid: str
    initial_state: int = Field(alias="initialState")
    max_threads: int = Field(alias="maxThreads")
    status: int
    threads: int
    command: BackendCommand | None
    updated: UtcTime
    heartbeat: UtcTime | None


class BackendPatch(ApiModel):
    """The seed's PATCH body: the backend's `name` plus what to change."""

    name: Name
    command: BackendCommand | None = None
    max_threads: MaxThreads | None = Field(default=None, alias="maxThreads")
    initial_state: Literal[0, 1] | None = Field(default=None, alias="initialState")

    def initial_status(self) -> BackendStatus | None:
        return None if self.initial_state is None else BackendStatus(self.initial_state)


class JobSubmission(ApiModel):
    """One user to migrate. `password` (the user's source password, for setups without a
    master user) is wrapped with the scheduler's key before it is stored, and never returned."""

    target: EntityName = "default"
    uid: Name
    ruid: Name | None = None
    email: Email | None = None
    source: EntityName
    source_host: Name | None = Field(default=None, alias="sourceHost")
    password: Password | None = None
    imapcoptions: FreeText | None = None
    exclude: FreeText | None = None
    phase: JobPhase = JobPhase.PRE_SYNC
    priority: Priority = 0


class JobOut(ApiModel):
    id: int
    target: str
    source: str
    uid: str
    ruid: str | None
    email: str | None
    source_host: str | None = Field(alias="sourceHost")
    password_stored: bool = Field(alias="passwordStored")
    password_key: str | None = Field(alias="passwordKey")
    imapcoptions: str | None
    exclude: str | None
    phase: JobPhase
    priority: int
    status: JobStatus
    submitted: UtcTime
    started: UtcTime | None
    finished: UtcTime | None
    attempts: int
    backend: str | None
    heartbeat: UtcTime | None
    cancel_requested: bool = Field(alias="cancelRequested")


class JobDetail(JobOut):
    """A job with the details array its runs produced (the seed's step entries)."""

    details: list[Any]


class JobPage(ApiModel):
    total: int
    offset: int
    limit: int
    items: list[JobOut]


class BulkSubmitted(ApiModel):
    submitted: int
    ids: list[int]


class Problem(ApiModel):
    """Every error body: one line saying what was wrong."""

    detail: str | list[dict[str, Any]]
