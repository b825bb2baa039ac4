"""`count.remote-command` runs as the seed's appendix promises whatever the operator wrote: tab
formatter, no debug or verbosity, `messages vsize` as the field list."""

from __future__ import annotations

from pathlib import Path

from dmf.mail.sample import write_sample_maildir
from dmf.worker.commands import count_command, render
from dmf.worker.job_run import run_job
from dmf.worker.source_settings import CommandSpec
from tests.worker.scripts.job_harness import entry_of, make_config, make_context
from tests.worker.test_job_run_dmf_backup import backup_command, dmf_program

MESSAGES = 12


def rendered(spec: dict[str, object]) -> list[str]:
    return render(count_command(CommandSpec.model_validate(spec)), lambda item: item)


def test_formatter_debug_and_fields_are_forced() -> None:
    noisy = {"name": "doveadm", "flags": "-D -f json -Dv",
             "options": [{"name": "-v"}, {"name": "-f", "value": "flow"},
                         {"name": "-o", "value": "mail=imapc:"}],
             "sub-command": {"name": "mailbox status", "arguments": ["messages", "INBOX"],
                             "options": [{"name": "-u", "value": "u1"}]}}
    assert rendered(noisy) == ["doveadm", "-f", "tab", "-o", "mail=imapc:", "mailbox", "status",
                               "-u", "u1", "messages vsize", "INBOX"]
    patterns_only = {"name": "doveadm", "sub-command": {"name": "mailbox status",
                                                        "arguments": ["INBOX/*", "*"]}}
    assert rendered(patterns_only) == ["doveadm", "-f", "tab", "mailbox", "status",
                                       "messages vsize", "INBOX/*", "*"]
    bare = {"name": "doveadm", "sub-command": {"name": "mailbox status"}}
    assert rendered(bare)[-4:] == ["messages vsize", "INBOX/*", "INBOX", "*"]


async def test_remote_command_without_tab_formatter_counts(tmp_path: Path) -> None:
    """The `make demo` case: a remote-command written without `-f tab` (and here verbose, with
    another field list) still yields the count, from the real `dmf mailbox status`."""
    source = tmp_path / "source"
    write_sample_maildir(source, messages=MESSAGES)
    remote = {"name": dmf_program(), "flags": "-v",
              "options": [{"name": "-o", "value": f"mail_location=maildir:{source}"}],
              "sub-command": {"name": "mailbox status",
                              "options": [{"name": "-u", "value": "%{mdb:uid}"}],
                              "arguments": ["messages", "*"]}}
    config = make_config(dmf_program(), {
        "count": {"remote": True, "remote-command": remote},
        "command": {"sync": {"sync": backup_command(source, tmp_path / "dest")}}})
    outcome = await run_job(make_context(), config)
    count = entry_of(outcome.details, "count remote mailbox")
    assert count["success"], count
    assert count["messages"] == MESSAGES and count["size"] > 0
    assert " -f tab " in count["command"] and " -v " not in count["command"]
