"""Where the output of a job's commands goes (seed 2.2.10, `dmf.worker.command.logging`).

- `file`: one file per job run under `location`, named by `format` with the specifiers
  `%(source)`, `%(user)`, `%(phase)`, `%(job)`, `%(date)` (YYYY-MM-DD, UTC). A format without
  `%(job)` names the same file for each run of a user: runs append to it. Each command starts
  with a `# <command as shown>` line and ends with `# exit <code>`. With `delete-on-success` the
  file is removed when the job succeeded (and kept when it failed: that is when it is read).
- `logger`: every line goes to the `dmf.worker.command` logger at INFO, prefixed by the job.
- `off`: output is read (the log analyzer still sees it) and dropped.

Every line is masked (`<hidden>` for the job's secrets) before it is written anywhere. The
values put into a file name cannot leave `location`: `/` and NUL become `_`, and a name of `.`
or `..` is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from dmf.errors import ConfigError
from dmf.worker.commands import mask
from dmf.worker.job_context import JobContext

log = logging.getLogger("dmf.worker.command")

SPECIFIERS = ("source", "user", "phase", "job", "date")


class CommandLog(Protocol):
    def command(self, shown: str) -> None: ...

    def line(self, text: str) -> None: ...

    def exit(self, code: int) -> None: ...

    def close(self, job_succeeded: bool) -> None: ...


def log_file_name(name_format: str, context: JobContext, today: dt.date) -> str:
    """The file name of a job's command log (module docstring)."""
    values = {"source": context.source, "user": context.uid, "phase": context.phase,
              "job": str(context.job_id), "date": today.isoformat()}
    name = name_format
    for key in SPECIFIERS:
        name = name.replace(f"%({key})", values[key].replace("/", "_").replace("\0", "_"))
    if name in ("", ".", "..") or "/" in name:
        raise ConfigError(f"dmf.worker.command.logging.file.format: {name_format!r} gives the "
                          f"file name {name!r}, which is not a plain file name")
    return name


class _Masked:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = [secret for secret in secrets if secret]

    def _mask(self, text: str) -> str:
        return mask(text, self._secrets)


class FileCommandLog(_Masked):
    def __init__(self, path: Path, secrets: Iterable[str], delete_on_success: bool) -> None:
        super().__init__(secrets)
        self.path = path
        self._delete_on_success = delete_on_success
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(descriptor, "a", encoding="utf-8", errors="replace")

    def command(self, shown: str) -> None:
        self._file.write(f"# {self._mask(shown)}\n")

    def line(self, text: str) -> None:
        self._file.write(self._mask(text.rstrip("\r\n")) + "\n")

    def exit(self, code: int) -> None:
        self._file.write(f"# exit {code}\n")
        self._file.flush()

    def close(self, job_succeeded: bool) -> None:
        self._file.close()
        if job_succeeded and self._delete_on_success:
            self.path.unlink(missing_ok=True)


class LoggerCommandLog(_Masked):
    def __init__(self, context: JobContext, secrets: Iterable[str]) -> None:
        super().__init__(secrets)
        self._prefix = f"job {context.job_id} ({context.source} {context.uid} {context.phase})"

    def command(self, shown: str) -> None:
        log.info("%s: run %s", self._prefix, self._mask(shown))

    def line(self, text: str) -> None:
        log.info("%s: %s", self._prefix, self._mask(text.rstrip("\r\n")))

    def exit(self, code: int) -> None:
        log.info("%s: exit %d", self._prefix, code)

    def close(self, job_succeeded: bool) -> None:
        """Nothing to release."""


class OffCommandLog:
    def command(self, shown: str) -> None:
        """Output is dropped."""

    def line(self, text: str) -> None:
        """Output is dropped."""

    def exit(self, code: int) -> None:
        """Output is dropped."""

    def close(self, job_succeeded: bool) -> None:
        """Nothing to release."""


def open_command_log(kind: str, *, name_format: str, location: str, delete_on_success: bool,
                     context: JobContext, secrets: Iterable[str],
                     today: dt.date | None = None) -> CommandLog:
    """`kind` is `file`, `logger` or `off` (the configuration's `type`)."""
    if kind == "off":
        return OffCommandLog()
    if kind == "logger":
        return LoggerCommandLog(context, secrets)
    if kind == "file":
        name = log_file_name(name_format, context, today or dt.datetime.now(dt.UTC).date())
        return FileCommandLog(Path(location) / name, secrets, delete_on_success)
    raise ConfigError(f"dmf.worker.command.logging.type: {kind!r} is not file, logger or off")
