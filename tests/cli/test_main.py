"""The `dmf` command line itself: doveadm's exit code 64 for usage errors (one line on stderr),
help and version, options in any order, and a help that loads no command."""

from __future__ import annotations

import gc
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from dmf.cli.main import COMMANDS, main
from tests.cli.dmf_process import run_dmf


def dmf(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `dmf ARGV...` run in this process."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    gc.unfreeze()  # main freezes for a process about to end; this one goes on
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.mark.parametrize(("argv", "problem"), [
    (("nope",), "'nope'"),
    (("-z", "backup"), "-z"),
    (("-f", "xml", "backup"), "'xml'"),
    ((), "COMMAND"),
    (("backup", "-z", "maildir:/nowhere"), "-z"),
    (("backup", "-T", "-1", "maildir:/nowhere"), "-1 is not in the range x>=0"),
    (("backup", "-l", "soon", "maildir:/nowhere"), "'soon' is not a valid integer"),
    (("mailbox",), "COMMAND"),
    (("mailbox", "status", "messages"), "MASK"),
    (("mailbox", "path", "-t", "alt", "INBOX"), "'alt'"),
    (("jobs", "show", "0"), "0 is not in the range x>=1"),
    (("backends", "set-max", "a/1", "100001"), "100001 is not in the range 0<=x<=100000"),
])
def test_a_usage_error_exits_64_with_one_line_naming_it(capsys, argv, problem) -> None:
    code, out, err = dmf(capsys, *argv)
    assert (code, out) == (64, "")
    assert err.startswith("Error: dmf") and err.count("\n") == 1 and problem in err, err


def test_a_malformed_setting_is_a_configuration_error(capsys) -> None:
    assert dmf(capsys, "-o", "no-equals-sign", "backup", "-z") == \
        (78, "", "Error: Invalid value: -o 'no-equals-sign': expected key=value\n")


def test_version(capsys) -> None:
    assert dmf(capsys, "--version") == (0, f"dmf, version {version('dmf')}\n", "")


def test_backup_help_shows_every_option(capsys) -> None:
    code, out, err = dmf(capsys, "backup", "--help")
    assert (code, err) == (0, "")
    assert out.startswith("usage: dmf backup ")
    for letter in "uAFfRlmgnNxteTsd":
        assert f"  -{letter} " in out, letter
    assert "One-way sync: make DESTINATION" in out


def test_every_command_and_sub_command_has_help(capsys) -> None:
    for argv in (("-h",), ("mailbox", "list", "-h"), ("jobs", "submit", "-h"),
                 ("backends", "-h"), ("user", "-h"), ("worker", "-h")):
        code, out, _err = dmf(capsys, *argv)
        assert code == 0 and out.startswith("usage: dmf"), argv


def test_top_level_help_lists_the_commands_without_importing_them() -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dmf", "-h"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert f"\n  {name} " in done.stdout, name
    imported = {line.rsplit("|", 1)[1].strip()
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert imported.isdisjoint(module for module, _line in COMMANDS.values())


def test_options_may_follow_arguments(tmp_path: Path) -> None:
    """As with click before: `-u` between two masks, the global -f before the command."""
    done = run_dmf("-o", f"mail_location=maildir:{tmp_path}/%u", "-f", "tab", "mailbox",
                   "list", "INBOX", "-u", "ann", "Nope")
    assert (done.returncode, done.stdout, done.stderr) == (0, "mailbox\nINBOX\n", "")
