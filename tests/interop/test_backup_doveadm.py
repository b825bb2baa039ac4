"""Acceptance against real Dovecot: doveadm reads a dmf backup exactly as it reads the source,
and dmf reports a doveadm backup of the same source exactly as it reports its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.dovecot import Doveadm
from tests.interop.trees import USER, copy_tree, dmf_command

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def test_doveadm_sees_the_backup_as_the_source(doveadm: Doveadm,
                                               first_backup: tuple[Path, Path]) -> None:
    source, dest = (doveadm.copy(path) for path in first_backup)
    assert doveadm.mailboxes(dest) == doveadm.mailboxes(source)
    assert doveadm.status(dest) == doveadm.status(source)
    theirs = doveadm.fetch(dest)
    assert len(theirs) >= 400
    assert theirs == doveadm.fetch(source)


def _dmf_rows(maildir: Path, *args: str) -> list[list[str]]:
    done = subprocess.run(dmf_command("-o", f"mail_location=maildir:{maildir}", "-f", "tab",
                                      *args), capture_output=True, text=True, check=True,
                          env={"USER": USER, "PATH": "/usr/bin:/bin"}, timeout=120)
    return [line.split("\t") for line in done.stdout.splitlines()]


def test_dmf_reports_a_doveadm_backup_like_its_own(doveadm: Doveadm, tmp_path: Path,
                                                   first_backup: tuple[Path, Path]) -> None:
    source, ours = first_backup
    theirs = doveadm.backup(source)
    ours = copy_tree(ours, tmp_path / "ours")
    status = ("mailbox", "status", "messages uidnext uidvalidity guid", "*")
    # doveadm refuses mailboxes beginning with '~' (dmf copies them and warns)
    our_status = [row for row in _dmf_rows(ours, *status) if not row[0].startswith("~")]
    assert sorted(_dmf_rows(theirs, *status)) == sorted(our_status)
    fields = "mailbox uid guid flags date.received size.physical"
    our_rows = _dmf_rows(ours, "fetch", fields, "all")
    their_rows = [row for row in _dmf_rows(theirs, "fetch", fields, "all")]
    assert len(our_rows) == len(their_rows) + sum(1 for r in our_rows if r[0].startswith("~"))
    for mine, dovecots in zip((r for r in our_rows if not r[0].startswith("~")), their_rows,
                              strict=True):
        # Dovecot stores LF line ends (it rewrites CR, CRLF and mixed ones); dmf keeps every
        # byte: only messages holding a CR may differ, and only in size
        assert mine[:5] == dovecots[:5]
        if mine[5] != dovecots[5]:
            assert b"\r" in _body(ours, mine[0], int(mine[1])), mine


def _body(maildir: Path, mailbox: str, uid: int) -> bytes:
    from dmf.mail.location import open_storage

    storage = open_storage(f"maildir:{maildir}", user=USER, home=None)
    try:
        box = storage.mailbox(mailbox.replace(storage.separator, "/"))
        with box.open_body(uid) as handle:
            return handle.read()
    finally:
        storage.close()
