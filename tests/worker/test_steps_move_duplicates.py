"""Move duplicates against a real private Dovecot IMAP server: the named UIDs end up in the
lost+found mailbox under their folder, the rest (including a message the user flagged \\Deleted)
stays."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from dmf.worker.job_run import run_job
from tests.fixtures.databases import free_port
from tests.fixtures.dovecot import MAIL_UID, running_dovecot, traversable_dir
from tests.fixtures.dovecot_server import passwd_line, server_config
from tests.fixtures.services import unavailable
from tests.worker.scripts.job_harness import (
    FAKE_DOVEADM,
    FakeDoveadm,
    entry_of,
    make_config,
    make_context,
)

REAPPEARED = ("dsync(user1): Error: imapc(127.0.0.1): Mailbox '%s' state corrupted: "
              "Expunged message reappeared in session (uid=%d < next_uid=90)")


def _settings(root: Path) -> str:
    """What this server adds: plain logins over IMAP, master users (root/masters), one "/"
    namespace, no delay after a failed login."""
    return f"""disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
auth_failure_delay = 0
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = {root}/masters
  master = yes
  pass = yes
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture()
def dovecot_imap() -> Iterator[int]:
    if os.geteuid() != 0:
        unavailable("dovecot", "a private server here needs root for its mail uid")
    # Dovecot's auth and mail processes run as other users: pytest's 0700 tmp_path is closed
    # to them, so the server lives in a directory of its own that they can traverse.
    root = traversable_dir("dmf-dovecot-")
    try:
        home = root / "home" / "olduser1"
        home.mkdir(parents=True)
        os.chown(home, MAIL_UID, MAIL_UID)
        os.chown(home.parent, MAIL_UID, MAIL_UID)
        (root / "users").write_text(passwd_line("olduser1", "userpw", home))
        (root / "masters").write_text("admin:{PLAIN}adminpw\n")
        port = free_port()
        config = server_config(root, port=port, settings=_settings(root))
        with running_dovecot(root, config, lambda: _accepts(port)):
            yield port
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fill(port: int) -> None:
    with IMAPClient("127.0.0.1", port=port, ssl=False) as client:
        client.login("olduser1", "userpw")
        client.create_folder("Work")
        client.create_folder("Work/Projects")
        for folder in ("INBOX", "Work/Projects"):
            for number in range(1, 5):
                client.append(folder, f"Subject: {folder} {number}\r\n\r\nbody\r\n".encode(),
                              flags=[rb"\Deleted"] if number == 4 else [])


def _state(port: int) -> dict[str, list[str]]:
    with IMAPClient("127.0.0.1", port=port, ssl=False) as client:
        client.login("olduser1", "userpw")
        result = {}
        for _flags, _sep, name in client.list_folders():
            client.select_folder(name, readonly=True)
            messages = client.search("ALL")
            fetched = client.fetch(messages, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) \
                if messages else {}
            result[name] = sorted(data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()
                                  for data in fetched.values())
        return result


@pytest.mark.parametrize("login", ["user", "master"])
async def test_duplicates_moved_to_lost_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              dovecot_imap: int, login: str) -> None:
    _fill(dovecot_imap)
    FakeDoveadm(tmp_path / "fake", monkeypatch, backup_exits=[1, 0], backup_lines=[[
        REAPPEARED % ("INBOX", 2), REAPPEARED % ("Work/Projects", 1),
        REAPPEARED % ("Work/Projects", 3)], []])
    source = {"move-duplicates": True, "retry": {"max": 1},
              "imapc": {"master-user": "admin", "master-password": "adminpw"}}
    context = make_context(source_host="127.0.0.1", source_port=dovecot_imap,
                           source_password="userpw" if login == "user" else None)
    outcome = await run_job(context, make_config(FAKE_DOVEADM, source))
    dsync = entry_of(outcome.details, "dsync")
    assert outcome.success, dsync
    assert all("reappeared" in error for error in dsync["errors"])  # no error of the move
    assert dsync["invalid"] == {"INBOX": ["2"], "Work/Projects": ["1", "3"]}
    assert _state(dovecot_imap) == {
        "INBOX": ["Subject: INBOX 1", "Subject: INBOX 3", "Subject: INBOX 4"],
        "INBOX/lost+found-INBOX": ["Subject: INBOX 2"],
        "Work": [],
        "Work/Projects": ["Subject: Work/Projects 2", "Subject: Work/Projects 4"],
        "Work/Projects/lost+found-Projects": ["Subject: Work/Projects 1",
                                              "Subject: Work/Projects 3"],
    }
