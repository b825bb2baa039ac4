"""A backup that received mail of its own: dmf never hands out a UID twice within one
UIDVALIDITY, on either side, with real Dovecot delivering to both (`doveadm save`).

doveadm backup 2.3.19 in the same situation recreates the mailbox with the source's UIDNEXT, so
the source's next message reuses a UID the backup gave out (and for INBOX it fails, exit 65)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.dmf_process import run_dmf
from tests.fixtures.dovecot import Doveadm

pytestmark = pytest.mark.interop


def _deliver(doveadm: Doveadm, maildir: Path, subject: str) -> None:
    message = f"Subject: {subject}\nMessage-ID: <{subject}@dmf.test>\n\n{subject}\n"
    doveadm.run(maildir, "save", stdin=message.encode())


def _backup(source: Path, dest: Path) -> None:
    done = run_dmf("-o", f"mail_location=maildir:{source}", "backup", f"maildir:{dest}")
    assert done.returncode == 0, done.stderr


def _uids(doveadm: Doveadm, maildir: Path) -> dict[int, str]:
    rows = doveadm.table(maildir, "fetch", "uid hdr.subject", "mailbox", "INBOX")
    return {int(row["uid"]): row["hdr.subject"] for row in rows}


def _uid_state(doveadm: Doveadm, maildir: Path) -> tuple[str, str]:
    status = doveadm.status(maildir, "uidvalidity uidnext", "INBOX")["INBOX"]
    return status["uidvalidity"], status["uidnext"]


def test_mail_delivered_to_the_backup_never_lends_its_uids(doveadm: Doveadm) -> None:
    source = doveadm.new_dir() / "Maildir"
    dest = doveadm.new_dir() / "Maildir"
    for number in range(1, 5):
        _deliver(doveadm, source, f"s{number}")
    _backup(source, dest)
    uidvalidity, _ = _uid_state(doveadm, source)
    for number in range(5, 8):
        _deliver(doveadm, dest, f"d{number}")
    assert _uid_state(doveadm, dest) == (uidvalidity, "8")

    _backup(source, dest)
    assert _uids(doveadm, dest) == {1: "s1", 2: "s2", 3: "s3", 4: "s4"}
    # neither side will give out 5-7 again: both continue at 8, UIDVALIDITY unchanged
    assert _uid_state(doveadm, dest) == (uidvalidity, "8")
    raised = run_dmf("-o", f"mail_location=maildir:{source}", "mailbox", "status",
                     "uidvalidity uidnext", "INBOX")
    assert raised.stdout == f"INBOX uidnext=8 uidvalidity={uidvalidity}\n"

    # (Dovecot's own index still reports the UIDNEXT it cached, 5, until it next saves)
    _deliver(doveadm, source, "s5")
    assert max(_uids(doveadm, source)) == 8
    _backup(source, dest)
    assert _uids(doveadm, dest) == {1: "s1", 2: "s2", 3: "s3", 4: "s4", 8: "s5"}
    assert _uid_state(doveadm, dest) == (uidvalidity, "9")
