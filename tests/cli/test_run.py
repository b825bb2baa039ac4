"""Errors become one doveadm-style line and the right exit code, in one place."""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

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


@click.group()
@click.option("-D", "debug", is_flag=True)
@click.pass_context
def _root(ctx: click.Context, debug: bool) -> None:
    ctx.obj = GlobalOptions(debug=debug)


@_root.command("fail")
@click.option("--kind")
@guarded
def _failing(kind: str) -> None:
    raise {"config": ConfigError("bad setting"), "bug": ZeroDivisionError("oops")}[kind]


def test_guarded_prints_one_line_and_traceback_only_under_debug() -> None:
    runner = CliRunner()
    quiet = runner.invoke(_root, ["fail", "--kind", "bug"])
    assert quiet.exit_code == 1
    assert quiet.stderr == "Error: ZeroDivisionError: oops\n"
    loud = runner.invoke(_root, ["-D", "fail", "--kind", "bug"])
    assert loud.exit_code == 1 and "Traceback" in loud.stderr
    config = runner.invoke(_root, ["-D", "fail", "--kind", "config"])
    assert (config.exit_code, config.stderr) == (78, "Error: bad setting\n")
