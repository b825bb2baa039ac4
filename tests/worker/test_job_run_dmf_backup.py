"""End to end: jobs whose migration command is the real `dmf backup` of a sample Maildir, with
saved counts in the details taken from dmf's event lines."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from dmf.mail.sample import write_sample_maildir
from dmf.worker.job_run import run_job
from tests.worker.scripts.job_harness import entry_of, make_config, make_context

MESSAGES = 30


def dmf_program() -> str:
    beside = Path(sys.executable).with_name("dmf")
    return str(beside) if beside.exists() else (shutil.which("dmf") or "dmf")


def backup_command(source: Path, destination: Path) -> dict[str, object]:
    return {"name": dmf_program(), "flags": "-v",
            "options": [{"name": "-o", "value": f"mail_location=maildir:{source}"}],
            "sub-command": {"name": "backup", "options": [{"name": "-u", "value": "%{mdb:uid}"}],
                            "arguments": f"maildir:{destination}/%{{mdb:uid}}"}}


def stored_messages(maildir: Path) -> int:
    return sum(1 for path in maildir.rglob("*") if path.is_file() and path.parent.name in
               ("cur", "new"))


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    write_sample_maildir(source, messages=MESSAGES)
    return source


async def test_command_type_job_runs_dmf_backup(tmp_path: Path, sample: Path) -> None:
    destination = tmp_path / "dest"
    config = make_config("unused", {"command": {"sync": {"sync": backup_command(sample,
                                                                              destination)}}},
                         worker_type="command")
    outcome = await run_job(make_context(), config)
    dsync = entry_of(outcome.details, "dsync")
    assert outcome.success, dsync
    assert sum(dsync["saved"].values()) == MESSAGES == stored_messages(destination / "user1")
    assert {"INBOX", "Sent"} <= set(dsync["saved"])
    assert dsync["errors"] == [] and dsync["attempts"] == 1

    again = entry_of((await run_job(make_context(), config)).details, "dsync")
    assert again["success"] and sum(again["saved"].values()) == 0  # nothing new to copy


async def test_doveadm_type_job_with_dmf_commands(tmp_path: Path, sample: Path) -> None:
    destination = tmp_path / "dest"
    remote_count = {"name": dmf_program(),
                    "options": [{"name": "-f", "value": "tab"},
                                {"name": "-o", "value": f"mail_location=maildir:{sample}"}],
                    "sub-command": {"name": "mailbox status",
                                    "options": [{"name": "-u", "value": "%{mdb:uid}"}],
                                    "arguments": ["messages vsize", "INBOX/*", "INBOX", "*"]}}
    source = {"count": {"remote": True, "remote-command": remote_count},
              "command": {"cutover": {"sync": backup_command(sample, destination)}}}
    outcome = await run_job(make_context(phase="cutover"), make_config(dmf_program(), source))
    assert outcome.success, outcome.details
    assert sum(entry_of(outcome.details, "dsync")["saved"].values()) == MESSAGES
    remote = entry_of(outcome.details, "count remote mailbox")
    assert remote["messages"] == MESSAGES and remote["size"] > 0
