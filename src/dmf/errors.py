"""The one exception hierarchy of dmf.

Every error carries the scope it spoils (one message, one mailbox, the whole store) and whether a
retry can help, as isync's DRV_*/FAIL_* codes do, so callers decide without parsing text. Each
class maps to one doveadm exit code; `cli/` turns them into process exits in one place.
"""

from __future__ import annotations

import enum


class Scope(enum.Enum):
    MESSAGE = "message"
    MAILBOX = "mailbox"
    STORE = "store"


class Retry(enum.Enum):
    TEMPORARY = "temporary"
    FINAL = "final"


class DmfError(Exception):
    """Base class; exit code 1 (other failure)."""

    exit_code = 1
    default_scope = Scope.STORE
    default_retry = Retry.FINAL

    def __init__(self, message: str, *, scope: Scope | None = None,
                 retry: Retry | None = None) -> None:
        super().__init__(message)
        self.scope = scope or self.default_scope
        self.retry = retry or self.default_retry


class UsageError(DmfError):
    """Bad command line: exit 64."""

    exit_code = 64


class NotPossibleError(DmfError):
    """The request cannot be carried out as asked (bad input data, unsupported): exit 65."""

    exit_code = 65


class UnknownUserError(DmfError):
    exit_code = 67


class NotFoundError(DmfError):
    """A mailbox, message, file or location that does not exist: exit 68."""

    exit_code = 68


class TemporaryError(DmfError):
    """Lock timeout, full disk, lost connection: running again may succeed. Exit 75."""

    exit_code = 75
    default_retry = Retry.TEMPORARY


class PermissionDeniedError(DmfError):
    exit_code = 77


class ConfigError(DmfError):
    """A configuration file, setting or location string is wrong: exit 78."""

    exit_code = 78


# doveadm's exit codes, named once.
EXIT_OK = 0
EXIT_NOT_PERFECT = 2
EXIT_FAILURE = 1
EXIT_USAGE = UsageError.exit_code
EXIT_NOT_POSSIBLE = NotPossibleError.exit_code
EXIT_UNKNOWN_USER = UnknownUserError.exit_code
EXIT_NOT_FOUND = NotFoundError.exit_code
EXIT_TEMPFAIL = TemporaryError.exit_code
EXIT_NOPERM = PermissionDeniedError.exit_code
EXIT_CONFIG = ConfigError.exit_code
