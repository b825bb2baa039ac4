"""Steps one by one: counts and their output, the remote count command's sources, imapc inbox
copy, fetch container, the migration step's duplicate UIDs and retry overrides."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from dmf.worker.job_run import run_job
from dmf.worker.steps.container import find_container
from dmf.worker.steps.mailbox_count import parse_status_tab
from tests.worker.scripts.job_harness import (
    FAKE_DOVEADM,
    FakeDoveadm,
    command,
    entry_of,
    make_config,
    make_context,
)

REAPPEARED = ("dsync(user1): Error: imapc(imap.old:143): Mailbox 'INBOX' state corrupted: "
              "Expunged message reappeared in session (uid=%d < next_uid=90)")
PUT_TIMEOUT = ("dsync(user1): Error: Mailbox INBOX: Saving mail failed: failed: PUT "
               "http://obox/u/1 failed: Absolute request timeout expired")


def test_parse_status_tab() -> None:
    lines = ["mailbox\tmessages\tvsize", "INBOX\t3\t300", "Sent\t2\t50", "INBOX\t3\t300", ""]
    assert parse_status_tab(lines) == (5, 350)
    assert parse_status_tab(["messages\tvsize", "3\t300", "1\t1"]) == (4, 301)  # no mailbox
    for bad in ([], ["mailbox\tmessages"], ["messages\tvsize", "x\t1"]):
        with pytest.raises(ValueError):
            parse_status_tab(bad)


def test_find_container() -> None:
    text = ("# comment\nother:{PLAIN}x:1:1::/h::userdb_container=c0\n"
            "opt1:{PLAIN}x:5000:5000::/home/u::userdb_quota=1G userdb_container=box7\n"
            "bare:{PLAIN}x\n")
    assert find_container(text, "opt1") == "box7"
    assert find_container(text, "bare") is None
    assert find_container(text, "missing") is None


async def test_unreadable_count_output_fails_step(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDoveadm(tmp_path, monkeypatch, local_rows=[["INBOX", "many", 1]])
    source = {"count": {"pre": True}, "failure-flags": {"pre": {"count-local-pre": True}}}
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, source))
    count = entry_of(outcome.details, "count local mailbox pre sync")
    assert not count["success"] and "unreadable mailbox status output" in count["errors"][0]
    assert not outcome.success and [next(iter(e)) for e in outcome.details] == [
        "count local mailbox pre sync"]


async def test_remote_count_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, local_rows=[["INBOX", 1, 2]],
                       remote_rows=[["INBOX", 9, 9]])
    only_remote = {"count": {"remote": True}}
    # 1. the source host's status command, split and injected
    status = f"{FAKE_DOVEADM} -f tab mailbox status -u %{{mdb:ruid}} 'messages vsize' '*'"
    outcome = await run_job(make_context(source_status_command=status),
                            make_config(FAKE_DOVEADM, only_remote))
    remote = entry_of(outcome.details, "count remote mailbox")
    assert remote["messages"] == 1
    assert fake.words()[-1] == ["-f", "tab", "mailbox", "status", "-u", "olduser1",
                                "messages vsize", "*"]
    # 2. count.remote-command overrides it
    remote_command = {"name": str(FAKE_DOVEADM), "options": [{"name": "-o",
                                                               "value": "mail=imapc:"}],
                      "sub-command": {"name": "mailbox status", "arguments": ["messages vsize"]}}
    outcome = await run_job(make_context(source_status_command=status), make_config(
        FAKE_DOVEADM, {"count": {"remote": True, "remote-command": remote_command}}))
    assert entry_of(outcome.details, "count remote mailbox")["messages"] == 9
    # 3. the doveadm protocol default
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, {
        "count": {"remote": True, "remote-protocol": "doveadm"},
        "doveadm": {"host": "old.dove", "password": "dpw"}}))
    remote = entry_of(outcome.details, "count remote mailbox")
    assert remote["command"].endswith('-f tab -o doveadm_password=<hidden> mailbox status -u '
                                      'olduser1 -S old.dove:24245 "messages vsize" '
                                      'INBOX/* INBOX *')
    assert fake.calls()[-1]["settings_env"] == {"DMF_SETTING_DOVEADM_PASSWORD": "dpw"}
    # 4. no host anywhere: a clear configuration error
    outcome = await run_job(make_context(source_host=None), make_config(FAKE_DOVEADM,
                                                                        only_remote))
    assert "imapc.host" in entry_of(outcome.details, "count remote mailbox")["errors"][0]


async def test_copy_imapc_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    inbox = home / "Maildir"
    (inbox / "cur").mkdir(parents=True)
    (inbox / "cur" / "1.msg:2,S").write_text("Subject: x\n\nbody\n")
    (inbox / "dovecot-uidlist").write_text("3 V1 N2\n1 :1.msg\n")
    owner = (os.getuid(), os.getgid()) if os.geteuid() != 0 else (1234, 4321)
    os.chown(home, *owner)
    fake = FakeDoveadm(tmp_path / "fake", monkeypatch, home=str(home), inbox=str(inbox))
    config = make_config(FAKE_DOVEADM, {"copy-imapc-inbox": True})
    for _ in range(2):  # a second run replaces the first copy
        outcome = await run_job(make_context(), config)
        assert entry_of(outcome.details, "copy imapc inbox") == {"success": True, "errors": []}
    copy = home / "imapc" / ".INBOX" / ".INBOX"
    assert (copy / "cur" / "1.msg:2,S").read_text() == "Subject: x\n\nbody\n"
    assert (copy / "dovecot-uidlist").exists() and not (copy / "Maildir").exists()
    assert all((path.stat().st_uid, path.stat().st_gid) == owner
               for path in [home / "imapc", *copy.rglob("*")])
    assert ["user", "-f", "home", "user1"] in fake.words()
    assert ["mailbox", "path", "-u", "user1", "INBOX"] in fake.words()


async def test_fetch_container_injected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch)
    container_file = tmp_path / "passwd.container"
    container_file.write_text("opt1:x:1:1::/h::userdb_container=box7\n")
    source = {"fetch-container": True, "container-file": str(container_file),
              "command": {"sync": {"pre": command("pre", "%{mdb:container}")}}}
    outcome = await run_job(make_context(imapc_options="opt1"), make_config(FAKE_DOVEADM, source))
    assert outcome.success and ["pre", "box7"] in fake.words()
    outcome = await run_job(make_context(imapc_options="opt1"), make_config(
        FAKE_DOVEADM, {**source, "container-file": str(tmp_path / "missing")}))
    assert not outcome.success and "container-file" in \
        outcome.details[0]["configuration"]["errors"][0]


async def test_duplicate_uids_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDoveadm(tmp_path, monkeypatch, backup_exits=[1, 0],
                backup_lines=[[REAPPEARED % 7, REAPPEARED % 9], [REAPPEARED % 7]])
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, {"retry": {"max": 1}}))
    dsync = entry_of(outcome.details, "dsync")
    assert outcome.success and dsync["invalid"] == {"INBOX": ["7", "9"]}
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    outcome = await run_job(make_context(source_host="127.0.0.1", source_port=port),
                            make_config(FAKE_DOVEADM, {"move-duplicates": True,
                                                       "retry": {"max": 1}}))
    errors = entry_of(outcome.details, "dsync")["errors"]
    assert any(error.startswith("move-duplicates: ConnectionRefusedError") for error in errors)


async def test_retry_overrides_after_storage_timeout(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, backup_exits=[75, 75, 0],
                       backup_lines=[[PUT_TIMEOUT], []])
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, {
        "retry": {"max": 2, "debug-mode": True}}))
    assert outcome.success
    first, second, third = (call["argv"] for call in fake.calls())
    assert "-D" not in first and "plugin/obox_max_parallel_writes=1" not in first
    for later in (second, third):  # added after the timeout, kept for later retries
        assert later[1:4] == ["-D", "-o", "plugin/obox_max_parallel_writes=1"]


async def test_copy_imapc_inbox_with_missing_home(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "no-home"
    FakeDoveadm(tmp_path / "fake", monkeypatch, home=str(home), inbox=str(home / "Maildir"))
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, {
        "copy-imapc-inbox": True, "remove-imapc-path": True}))
    copy = entry_of(outcome.details, "copy imapc inbox")
    assert not copy["success"] and "not a directory" in copy["errors"][0]
    assert outcome.success and not home.exists()  # not flagged; nothing created
    assert entry_of(outcome.details, "remove imapc inbox")["success"]
