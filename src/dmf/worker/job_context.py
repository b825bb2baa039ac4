"""What one job run needs to know about its job, and what it hands back.

The context is built by the worker loop from the claimed job row, with the source password
already unwrapped; it is frozen so no step can change what later steps see. The password's repr
is `<hidden>`, so a context in a log line or a traceback never shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["pre-sync", "cutover"]

HIDDEN = "<hidden>"


@dataclass(frozen=True)
class JobContext:
    job_id: int | str
    uid: str
    ruid: str
    email: str | None
    source: str
    source_host: str | None
    source_port: int | None
    imapc_ssl: str | None
    source_password: str | None = field(repr=False)
    imapc_options: str | None
    exclude: str | None
    phase: Phase
    attempt: int = 1
    source_status_command: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__dataclass_fields__
                          if name != "source_password")
        password = HIDDEN if self.source_password is not None else None
        return f"JobContext({shown}, source_password={password!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class JobOutcome:
    """`details` is the seed's job response details array: one `{step name: {...}}` per step."""

    success: bool
    details: list[dict[str, Any]]
