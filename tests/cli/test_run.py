"""Errors become one doveadm-style line and the right exit code, in one place."""

from __future__ import annotations

import errno
from argparse import Namespace

import pytest

from dmf.cli.context import GlobalOptions
from dmf.cli.run import error_line, exit_code_of, guarded
from dmf.errors import (
    ConfigError,
    DmfError,
    NotFoundError,
    NotPossibleError,
    PermissionDeniedError,
    TemporaryError,
    UnknownUserError,
    UsageError,
)


@pytest.mark.parametrize("exc, code", [
    (UsageError("x"), 64), (NotPossibleError("x"), 65), (UnknownUserError("x"), 67),
    (NotFoundError("x"), 68), (TemporaryError("x"), 75), (PermissionDeniedError("x"), 77),
    (ConfigError("x"), 78), (DmfError("x"), 1),
    (OSError(errno.EROFS, "Read-only file system"), 77),
    (OSError(errno.ENOSPC, "No space left on device"), 75),
    (FileNotFoundError(errno.ENOENT, "No such file", "/x"), 68),
    (RuntimeError("bug"), 1),
])
def test_exit_codes(exc: BaseException, code: int) -> None:
    assert exit_code_of(exc) == code


def test_error_lines_are_single_lines_in_doveadm_style() -> None:
    assert error_line(NotFoundError("Mailbox X\ndoesn't exist"), "dsync(bob)") == \
        "dsync(bob): Error: Mailbox X doesn't exist"
    assert error_line(PermissionError(errno.EACCES, "Permission denied", "/m")) == \
        "Error: /m: Permission denied"
    assert error_line(KeyError("k")) == "Error: KeyError: 'k'"


@guarded
def _failing(options: GlobalOptions, args: Namespace) -> int:
    raise {"config": ConfigError("bad setting"), "bug": ZeroDivisionError("oops")}[args.kind]


def test_guarded_prints_one_line_and_traceback_only_under_debug(capsys) -> None:
    assert _failing(GlobalOptions(), Namespace(kind="bug")) == 1
    assert capsys.readouterr().err == "Error: ZeroDivisionError: oops\n"
    assert _failing(GlobalOptions(debug=True), Namespace(kind="bug")) == 1
    assert "Traceback" in capsys.readouterr().err
    assert _failing(GlobalOptions(debug=True), Namespace(kind="config")) == 78
    assert capsys.readouterr().err == "Error: bad setting\n"
