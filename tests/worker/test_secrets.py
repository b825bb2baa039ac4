"""Passwords never reach a child's argv (read from /proc of the running child), the logs or the
details; they reach the child through the environment (dmf) or a `-c /dev/fd/N` configuration
(Dovecot's doveadm, checked with the real doveadm logging in to a listening IMAP socket)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from dmf.worker.job_context import JobOutcome
from dmf.worker.job_run import run_job
from tests.fixtures.services import unavailable
from tests.worker.scripts.job_harness import (
    FAKE_DOVEADM,
    PASSWORD,
    FakeDoveadm,
    command,
    entry_of,
    make_config,
    make_context,
    named_link,
)

MASTER_PASSWORD = "master'pw$HOME"


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


async def _run_watching_backup(fake: FakeDoveadm, doveadm: Path) -> tuple[JobOutcome, str]:
    """Run a job with `doveadm`; its outcome and the /proc cmdline of its `backup` child read
    while that ran (the fake holds before exiting)."""
    job = asyncio.create_task(run_job(make_context(), make_config(doveadm)))
    for _ in range(400):
        for call in fake.calls():
            if "backup" in call["argv"]:
                running = cmdline(call["pid"])
                return await job, running
        assert not job.done(), job.result()
        await asyncio.sleep(0.01)
    raise AssertionError("the backup child never started")


async def test_dmf_gets_password_from_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, hold=1.0)
    outcome, running = await _run_watching_backup(fake, FAKE_DOVEADM)
    assert outcome.success
    assert PASSWORD not in running and "imapc_user=olduser1" in running
    backup = fake.calls()[0]
    assert backup["settings_env"] == {"DMF_SETTING_IMAPC_PASSWORD": PASSWORD}
    assert "imapc_password=<hidden>" in entry_of(outcome.details, "dsync")["command"]


async def test_doveadm_gets_password_from_config_fd(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path / "fake", monkeypatch, hold=1.0)
    doveadm = named_link(tmp_path, "doveadm")
    outcome, running = await _run_watching_backup(fake, doveadm)
    assert outcome.success
    assert PASSWORD not in running and " -c /dev/fd/" in running
    backup = fake.calls()[0]
    escaped = PASSWORD.replace("\\", "\\\\").replace('"', '\\"')
    assert backup["config"] == ("!include_try /etc/dovecot/dovecot.conf\n"
                                f'imapc_password = "{escaped}"\n')
    assert backup["settings_env"] == {}


async def test_master_password_of_configuration_hidden(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch)
    source = {"imapc": {"master-user": "admin", "master-password": MASTER_PASSWORD}}
    outcome = await run_job(make_context(source_password=None), make_config(FAKE_DOVEADM, source))
    backup = fake.calls()[0]
    assert MASTER_PASSWORD not in " ".join(backup["argv"])
    assert "-o imapc_master_user=admin" in " ".join(backup["argv"])
    assert backup["settings_env"] == {"DMF_SETTING_IMAPC_PASSWORD": MASTER_PASSWORD}
    assert MASTER_PASSWORD not in json.dumps(outcome.details)


async def test_password_never_in_logs_or_details(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    FakeDoveadm(tmp_path, monkeypatch, backup_exits=[1],
                backup_lines=[[f"dsync(user1): Error: LOGIN olduser1 {PASSWORD} refused",
                               f"echoing {PASSWORD}"]])
    caplog.set_level(logging.DEBUG)
    source = {"command": {"sync": {"failure": command("failure", "%{mdb:email}")}}}
    config = make_config(FAKE_DOVEADM, source, logging={"type": "logger"})
    outcome = await run_job(make_context(), config)
    assert not outcome.success
    dsync = entry_of(outcome.details, "dsync")
    assert dsync["errors"] == ["LOGIN olduser1 <hidden> refused"]
    assert PASSWORD not in json.dumps(outcome.details)
    assert "echoing <hidden>" in caplog.text
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(make_context()) and "<hidden>" in repr(make_context())


async def test_password_outside_a_setting_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch)
    source = {"command": {"sync": {"pre": command("pre", "%{mdb:sourcepasswd}")}}}
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, source))
    pre = entry_of(outcome.details, "pre migration command")
    assert not pre["success"] and "would carry a password" in pre["errors"][0]
    assert not outcome.success  # a misconfiguration fails the job
    assert not any(call["argv"][1:2] == ["pre"] for call in fake.calls())
    assert PASSWORD not in json.dumps(outcome.details)


class _ImapLoginCatcher:
    """Greets as an IMAP server, and at the LOGIN of a client reads the cmdline of every child
    process of this test, then refuses the login."""

    def __init__(self) -> None:
        self.login: str | None = None
        self.children_cmdlines: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
        await writer.drain()
        while line := await reader.readline():
            tag, _, rest = line.decode(errors="replace").rstrip("\r\n").partition(" ")
            if rest.upper().startswith("LOGIN"):
                self.login = rest
                self.children_cmdlines = [cmdline(pid) for pid in _children(os.getpid())]
            writer.write(f"{tag} NO refused\r\n".encode())
            await writer.drain()
            break
        writer.close()


def _children(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(entry.name))
    return pids


async def test_real_doveadm_logs_in_with_password_absent_from_argv(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doveadm = shutil.which("doveadm")
    if doveadm is None:
        unavailable("doveadm", "not installed (Debian package dovecot-core)")
    if os.geteuid() != 0:
        unavailable("doveadm", "mail_uid switching needs root")
    password = "pw;$(touch /tmp/pwned)`id` <x>"
    catcher = _ImapLoginCatcher()
    server = await asyncio.start_server(catcher.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    home = tmp_path / "home"
    for directory in ("base", "state", "home"):
        (tmp_path / directory).mkdir()
    os.chown(home, 5000, 5000)
    conf = tmp_path / "dovecot.conf"
    conf.write_text(f"base_dir = {tmp_path}/base\nstate_dir = {tmp_path}/state\n"
                    f"log_path = /dev/stderr\nssl = no\nmail_location = maildir:{home}/Maildir\n")
    settings = ["mail_uid=5000", "mail_gid=5000", f"mail_home={home}", "imapc_host=127.0.0.1",
                f"imapc_port={port}", "imapc_user=%{mdb:ruid}",
                "imapc_password=%{mdb:sourcepasswd}"]
    migration = {"name": doveadm,
                 "options": [{"name": "-c", "value": str(conf)}]
                 + [{"name": "-o", "value": value} for value in settings],
                 "sub-command": {"name": "backup", "flags": "-R", "arguments": "imapc:"}}
    monkeypatch.setenv("USER", "user1")
    config = make_config(doveadm, {"command": {"sync": {"sync": migration}}})
    async with server:
        outcome = await asyncio.wait_for(run_job(make_context(source_password=password),
                                                 config), 60)
    assert catcher.login == f'LOGIN "olduser1" "{password}"'
    assert catcher.children_cmdlines, "doveadm was not found among the children"
    assert all(password not in line for line in catcher.children_cmdlines)
    assert any("backup -R imapc:" in line for line in catcher.children_cmdlines)
    dsync = entry_of(outcome.details, "dsync")
    assert not outcome.success and "imapc_password=<hidden>" in dsync["command"]
    assert password not in json.dumps(outcome.details)
