"""The one place where errors become doveadm's stderr lines and exit codes.

Expected failures (`DmfError`) print one line and exit with the class's code; an OSError that
escaped a backend is classified by errno the same way; anything else is a bug: one line, exit 1,
and the traceback only with -D.
"""

from __future__ import annotations

import errno
import functools
import sys
from typing import TYPE_CHECKING

from dmf.errors import (
    EXIT_FAILURE,
    EXIT_NOPERM,
    EXIT_NOT_FOUND,
    EXIT_TEMPFAIL,
    DmfError,
)

if TYPE_CHECKING:
    from argparse import Namespace

    from dmf.cli.context import GlobalOptions
    from dmf.cli.parsing import Handler

_ERRNO_EXIT_CODES = {
    errno.EACCES: EXIT_NOPERM,
    errno.EPERM: EXIT_NOPERM,
    errno.EROFS: EXIT_NOPERM,
    errno.ENOENT: EXIT_NOT_FOUND,
    errno.ENOTDIR: EXIT_NOT_FOUND,
    errno.ENOSPC: EXIT_TEMPFAIL,
    errno.EDQUOT: EXIT_TEMPFAIL,
    errno.EAGAIN: EXIT_TEMPFAIL,
}


def exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, DmfError):
        return exc.exit_code
    if isinstance(exc, OSError) and exc.errno in _ERRNO_EXIT_CODES:
        return _ERRNO_EXIT_CODES[exc.errno]
    return EXIT_FAILURE


def describe(exc: BaseException) -> str:
    """The error's text on one line (a multi-line message would break log parsers)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    if not isinstance(exc, DmfError | OSError):
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())


def error_line(exc: BaseException, prefix: str | None = None) -> str:
    """`dsync(user): Error: ...` with a prefix, `Error: ...` without, as doveadm prints."""
    head = f"{prefix}: Error: " if prefix else "Error: "
    return head + describe(exc)


def report(exc: BaseException, *, prefix: str | None = None, debug: bool = False) -> int:
    """Print the error line on stderr (and the traceback of a bug under -D); return the exit
    code it maps to."""
    sys.stderr.write(error_line(exc, prefix) + "\n")
    code = exit_code_of(exc)
    if debug and code == EXIT_FAILURE:
        import traceback  # only for a bug: start-up is spared it

        traceback.print_exception(exc, file=sys.stderr)
    return code


def guarded(command: Handler) -> Handler:
    """Wrap a command so every failure exits through `report` (prefix `Error:`): one line and
    the mapped exit code, the traceback of a bug only under -D."""

    @functools.wraps(command)
    def wrapper(options: GlobalOptions, args: Namespace) -> int:
        try:
            return command(options, args)
        except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exits
            return report(exc, debug=options.debug)

    return wrapper
