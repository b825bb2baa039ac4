"""The log analyzer on dmf's event lines, real `dmf backup -v` output, and Dovecot's lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dmf.mail.sample import write_sample_maildir
from dmf.worker.log_analyzer import LogAnalyzer, uid_set_size

EVENT = ('dsync(user1): Info: dmf-event {"mailbox": "%s", "saved": %d, "expunged": %d, '
         '"flag_changes": 0, "bytes": 10, "errors": %s}')


def analyzed(*lines: str) -> LogAnalyzer:
    analyzer = LogAnalyzer()
    for line in lines:
        analyzer.feed(line + "\n")
    return analyzer


def test_event_lines_counted_per_mailbox() -> None:
    analyzer = analyzed(EVENT % ("INBOX", 3, 1, "[]"), EVENT % ("Sent/2024", 2, 0, "[]"),
                        EVENT % ("INBOX", 4, 0, '["copy failed: disk full"]'))
    assert analyzer.saved == {"INBOX": 7, "Sent/2024": 2}
    assert analyzer.expunged == {"INBOX": 1}
    assert analyzer.errors == ["copy failed: disk full"]


def test_error_lines_collected_once() -> None:
    analyzer = analyzed("dsync(user1): Error: Mailbox INBOX: lost connection",
                        "dsync(user1): Error: Mailbox INBOX: lost connection",
                        "doveadm: Fatal: auth failed", "Error: plain prefixless error",
                        "dsync(user1): Warning: not an error", "dsync(user1): Info: Error: none")
    assert analyzer.errors == ["Mailbox INBOX: lost connection", "auth failed",
                               "plain prefixless error"]


def test_unreadable_event_is_an_error() -> None:
    analyzer = analyzed("dsync(u): Info: dmf-event {not json}",
                        'dsync(u): Info: dmf-event {"saved": 1}')
    assert len(analyzer.errors) == 2 and analyzer.saved == {}


def test_duplicate_uids_detected() -> None:
    line = ("dsync(user1): Error: imapc(imap.old:143): Mailbox 'Sent' state corrupted: "
            "Expunged message reappeared in session (uid=%d < next_uid=90)")
    analyzer = analyzed(line % 12, line % 12, line % 40)
    assert analyzer.invalid == {"Sent": ["12", "40"]}


def test_storage_timeouts() -> None:
    put = ("dsync(user1): Error: Mailbox INBOX: Saving mail failed: failed: PUT "
           "http://obox/u/1 failed: Absolute request timeout expired")
    assert analyzed(put).signals.parallel_write_timeout
    assert analyzed(put).signals.storage_timeout
    timeout = analyzed("dsync(user1): Error: fs-object: read timed out after 30 s")
    assert timeout.storage_timeout and not timeout.parallel_write_timeout
    assert not analyzed("dsync(user1): Error: something else").storage_timeout


def test_dovecot_saved_uids() -> None:
    analyzer = analyzed("dsync(user1): Debug: brain M: Import mailbox INBOX: Saved UIDs: 1:3,7",
                        "dsync(user1): Debug: Import mailbox Sent: Saved UIDs: 5")
    assert analyzer.saved == {"INBOX": 4, "Sent": 1}
    assert uid_set_size("10:8,20") == 4


def test_real_dmf_backup_output(tmp_path: Path) -> None:
    write_sample_maildir(tmp_path / "src", messages=12)
    process = subprocess.run(
        [sys.executable, "-m", "dmf", "-v", "-o", f"mail_location=maildir:{tmp_path}/src",
         "backup", "-u", "user1", f"maildir:{tmp_path}/dest"],
        capture_output=True, text=True, env={**os.environ, "USER": "user1"}, timeout=60)
    assert process.returncode == 0, process.stderr
    analyzer = LogAnalyzer()
    for line in (process.stdout + process.stderr).splitlines():
        analyzer.feed(line)
    assert sum(analyzer.saved.values()) == 12
    assert analyzer.errors == []
