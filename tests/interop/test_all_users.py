"""-A and -F against doveadm with a running Dovecot (doveadm needs its auth service to iterate
users): the same configuration file drives both, and the outputs must be equal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.dmf_process import run_dmf
from tests.fixtures.dovecot import MAIL_UID, find_doveadm, running_dovecot, traversable_dir
from tests.fixtures.dovecot_server import passwd_line, server_config
from tests.fixtures.services import unavailable

pytestmark = pytest.mark.interop

USERS = {"alice": ("Work",), "bob": ()}


def _chown_tree(root: Path) -> None:
    for directory, _, names in os.walk(root):
        os.chown(directory, MAIL_UID, MAIL_UID)
        for name in names:
            os.chown(os.path.join(directory, name), MAIL_UID, MAIL_UID)


@pytest.fixture(scope="module")
def dovecot_root() -> Iterator[Path]:
    """A private Dovecot (its auth service answers doveadm -A), users with Maildirs."""
    if find_doveadm() is None:
        unavailable("doveadm", "not installed (Debian package dovecot-imapd)")
    root = traversable_dir("dmf-dovecot-")
    (root / "run").mkdir()
    lines = []
    for name, folders in USERS.items():
        maildir = root / "home" / name / "Maildir"
        for directory in (maildir, *(maildir / f".{folder}" for folder in folders)):
            for sub in ("cur", "new", "tmp"):
                (directory / sub).mkdir(parents=True)
        lines.append(passwd_line(name, "pw", root / "home" / name))
    (root / "users").write_text("".join(lines))
    if os.geteuid() == 0:
        _chown_tree(root / "home")
    try:
        with running_dovecot(root, server_config(root),
                             (root / "run" / "auth-userdb").exists):
            yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _doveadm(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_doveadm() or "doveadm", "-c", str(root / "dovecot.conf"),
                           *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", [
    ("-f", "tab", "mailbox", "list", "-A"),
    ("mailbox", "status", "messages vsize", "*", "-A"),
    ("-f", "table", "mailbox", "status", "messages", "*", "-A"),
    ("-f", "json", "mailbox", "list", "-A"),
    ("-f", "tab", "fetch", "uid", "all", "-A"),
    ("mailbox", "path", "-A", "INBOX"),
    ("mailbox", "status", "messages", "INBOX", "-F", "{users_file}"),
])
def test_all_users_output_equals_doveadm(dovecot_root: Path, command: tuple[str, ...]) -> None:
    users_file = dovecot_root / "names"
    users_file.write_text("alice\nnobody\nbob\n")
    argv = [part.format(users_file=users_file) for part in command]
    theirs = _doveadm(dovecot_root, *argv)
    ours = run_dmf("-c", str(dovecot_root / "dovecot.conf"), *argv)
    assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr + theirs.stderr
    # doveadm lists each user's mailboxes in its own order: compare rows as sets
    if argv[1] == "json":
        def items(text: str) -> list[list[tuple[str, str]]]:
            return sorted(list(item.items()) for item in json.loads(text))

        assert items(ours.stdout) == items(theirs.stdout)
    else:
        if argv[1] in ("tab", "table"):  # the header row first
            assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0]
        assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())
    if "nobody" in users_file.read_text() and "-F" in argv:
        assert "Info: User no longer exists, skipping" in theirs.stderr
        assert ours.stderr == "dmf(nobody): Info: User no longer exists, skipping\n"
