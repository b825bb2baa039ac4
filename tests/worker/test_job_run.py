"""One job run end to end with real child processes (the fake doveadm script): retries and their
details, the order of operations, failure flags, misconfiguration, worker types."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from dmf.service.metrics import ServiceMetrics
from dmf.worker.job_run import run_job
from tests.worker.scripts.job_harness import (
    FAKE_DOVEADM,
    PASSWORD,
    FakeDoveadm,
    command,
    entry_of,
    make_config,
    make_context,
    step_names,
)

AROUND = {"command": {"sync": {"pre": command("pre", "%{mdb:uid}"),
                               "post": command("post", "%{mdb:uid}"),
                               "failure": command("failure", "%{mdb:uid}")}}}
RETRY_75 = {"retry": {"max": 1, "sleep": 1, "code-max": {75: 3}, "code-sleep": {75: 30}}}


async def test_failing_then_succeeding_migration(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, backup_exits=[75, 75, 0],
                       backup_lines=[["dsync(user1): Error: lost connection"], [], []])
    config = make_config(FAKE_DOVEADM, {**AROUND, **RETRY_75})
    started = time.monotonic()
    outcome = await run_job(make_context(), config)
    elapsed = time.monotonic() - started

    assert outcome.success
    assert step_names(outcome.details) == ["pre migration command", "dsync",
                                           "post migration command"]
    dsync = entry_of(outcome.details, "dsync")
    assert dsync["success"] and dsync["exitCode"] == 0 and dsync["attempts"] == 3
    assert dsync["exitCodes"] == [75, 75, 0]
    assert dsync["retries"] == [{"attempt": 1, "exitCode": 75, "sleepMs": 30},
                                {"attempt": 2, "exitCode": 75, "sleepMs": 30}]
    assert dsync["errors"] == ["lost connection", "exit code 75"]  # attempt 2 said nothing
    assert "imapc_password=<hidden>" in dsync["command"]
    assert elapsed >= 0.06  # two per-code sleeps of 30 ms
    assert PASSWORD not in json.dumps(outcome.details)
    words = fake.words()
    assert ["post", "user1"] in words and ["failure", "user1"] not in words
    assert [w[0] for w in words if w[0] in ("pre", "post")] == ["pre", "post"]


async def test_failing_after_last_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, backup_exits=[75])
    config = make_config(FAKE_DOVEADM, {**AROUND, **RETRY_75})
    outcome = await run_job(make_context(), config)

    assert not outcome.success
    assert step_names(outcome.details) == ["pre migration command", "dsync",
                                           "post migration failure command"]
    dsync = entry_of(outcome.details, "dsync")
    assert not dsync["success"] and dsync["attempts"] == 4 and dsync["exitCodes"] == [75] * 4
    assert [retry["sleepMs"] for retry in dsync["retries"]] == [30, 30, 30]
    assert "imapc_password=<hidden>" in dsync["command"]
    assert PASSWORD not in json.dumps(outcome.details)
    assert entry_of(outcome.details, "post migration failure command")["command"].endswith(
        "failure user1")
    words = fake.words()
    assert ["failure", "user1"] in words and ["post", "user1"] not in words


async def test_final_exit_code_is_not_retried(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDoveadm(tmp_path, monkeypatch, backup_exits=[78, 0])
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, {"retry": {"max": 5}}))
    dsync = entry_of(outcome.details, "dsync")
    assert not outcome.success and dsync["attempts"] == 1 and dsync["exitCode"] == 78


async def test_every_step_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    inbox = home / "Maildir"
    (inbox / "cur").mkdir(parents=True)
    (inbox / "cur" / "1.msg:2,S").write_text("Subject: x\n\nbody\n")
    fake = FakeDoveadm(
        tmp_path / "fake", monkeypatch, home=str(home), inbox=str(inbox),
        local_rows=[["INBOX", 3, 300], ["Sent", 2, 50], ["INBOX", 3, 300]],
        remote_rows=[["INBOX", 4, 310]],
        backup_lines=[['dsync(user1): Info: dmf-event {"mailbox": "INBOX", "saved": 3, '
                       '"expunged": 1, "flag_changes": 0, "bytes": 9, "errors": []}']],
        exits={"metacache": 0}, stderr={})
    source = {**AROUND, "director": {"enabled": True, "move-user": True},
              "copy-imapc-inbox": True, "remove-imapc-path": True,
              "flush-metacache": True, "clean-metacache": True,
              "count": {"pre": True, "post": True, "remote": True, "sync": True}}
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, source))

    assert step_names(outcome.details) == [
        "move user", "pre migration command", "copy imapc inbox",
        "count local mailbox pre sync", "dsync", "remove imapc inbox",
        "count local mailbox post sync", "count remote mailbox", "flush user metacache",
        "clean user metacache", "post migration command"]
    assert outcome.success  # move user failed, but no failure flag names it
    move = entry_of(outcome.details, "move user")
    assert not move["success"] and "http.url" in move["errors"][0]
    for name in ("count local mailbox pre sync", "count local mailbox post sync"):
        count = entry_of(outcome.details, name)
        assert count == {"success": True, "exitCode": 0, "errors": [], "messages": 5,
                         "size": 350, "command": count["command"]}
        assert count["command"].endswith('mailbox status -u user1 "messages vsize" '
                                         'INBOX/* INBOX *')
    remote = entry_of(outcome.details, "count remote mailbox")
    assert (remote["messages"], remote["size"]) == (4, 310)
    assert "-o imapc_password=<hidden>" in remote["command"] and "mail=imapc:" in remote["command"]
    dsync = entry_of(outcome.details, "dsync")
    assert dsync["saved"] == {"INBOX": 3} and dsync["expunged"] == {"INBOX": 1}
    assert entry_of(outcome.details, "copy imapc inbox") == {"success": True, "errors": []}
    assert entry_of(outcome.details, "remove imapc inbox") == {"success": True, "errors": []}
    assert not (home / "imapc" / ".INBOX" / ".INBOX").exists()
    for name, action in (("flush user metacache", "flush"), ("clean user metacache", "clean")):
        assert entry_of(outcome.details, name)["command"].endswith(f"metacache {action} -u user1")
    assert ["metacache", "clean", "-u", "user1"] in fake.words()
    assert PASSWORD not in json.dumps(outcome.details)


async def test_failing_step_without_flag_keeps_job(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDoveadm(tmp_path, monkeypatch, exits={"metacache": 75},
                stderr={"metacache": "doveadm(user1): Error: some error message"})
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, {"clean-metacache": True}))
    clean = entry_of(outcome.details, "clean user metacache")
    assert outcome.success
    assert (clean["success"], clean["exitCode"], clean["errors"]) == (
        False, 75, ["some error message"])


async def test_flagged_post_command_failure_fails_job(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, exits={"post": 3})
    source = {"command": {"cutover": AROUND["command"]["sync"]},
              "failure-flags": {"cutover": {"post-migration-command": True}}}
    outcome = await run_job(make_context(phase="cutover"), make_config(FAKE_DOVEADM, source))
    assert not outcome.success
    assert step_names(outcome.details) == ["pre migration command", "dsync",
                                           "post migration command",
                                           "post migration failure command"]
    assert ["failure", "user1"] in fake.words()
    # the same failure in the pre-sync phase is not flagged there
    outcome = await run_job(make_context(phase="pre-sync"),
                            make_config(FAKE_DOVEADM, {**source, "command": AROUND["command"]}))
    assert outcome.success


async def test_flagged_pre_step_failure_skips_migration(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, exits={"pre": 1})
    source = {**AROUND, "failure-flags": {"pre": {"pre-migration-command": True}}}
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, source))
    assert not outcome.success
    assert step_names(outcome.details) == ["pre migration command",
                                           "post migration failure command"]
    assert not any("backup" in words for words in fake.words())


async def test_unknown_property_fails_job_naming_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch)
    source = {"command": {"sync": {"post": command("post", "%{mdb:homedir}"),
                                   "failure": command("failure")}}}
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, source))
    assert not outcome.success
    post = entry_of(outcome.details, "post migration command")
    assert not post["success"] and "%{mdb:homedir}" in post["errors"][0]
    assert ["failure"] in fake.words()
    assert not any(words[:1] == ["post"] for words in fake.words())


async def test_command_type_runs_only_the_migration_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, exits={"migrate": 0})
    source = {**AROUND, "copy-imapc-inbox": True, "count": {"pre": True, "post": True},
              "command": {"sync": {"sync": command("migrate", "%{mdb:uid}",
                                                   "%{mdb:sourcepasswd}")}}}
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, source,
                                                        worker_type="command"))
    assert outcome.success and step_names(outcome.details) == ["dsync"]
    # not converted: the argv is the configured one, password included (seed 6.1.3) ...
    assert fake.words() == [["migrate", "user1", PASSWORD]]
    # ... but details still hide it
    assert entry_of(outcome.details, "dsync")["command"].endswith("migrate user1 <hidden>")


async def test_command_type_without_migration_command(tmp_path: Path) -> None:
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, worker_type="command"))
    assert not outcome.success
    assert "command.sync.sync" in entry_of(outcome.details, "dsync")["errors"][0]


async def test_simulator_type(tmp_path: Path) -> None:
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, worker_type="simulator"))
    assert outcome.success and step_names(outcome.details) == ["simulator"]


async def test_missing_program_fails_with_clear_error(tmp_path: Path) -> None:
    outcome = await run_job(make_context(), make_config(tmp_path / "no-such-doveadm"))
    dsync = entry_of(outcome.details, "dsync")
    assert not outcome.success and dsync["exitCode"] == 127
    assert "no-such-doveadm" in dsync["errors"][0]


async def test_metrics_of_commands_and_retries(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDoveadm(tmp_path, monkeypatch, backup_exits=[75, 0])
    metrics = ServiceMetrics(CollectorRegistry())
    outcome = await run_job(make_context(), make_config(FAKE_DOVEADM, {**AROUND, **RETRY_75}),
                            metrics)
    assert outcome.success
    registry = metrics.registry
    assert registry.get_sample_value("dmf_jobs_retried_total") == 1
    assert registry.get_sample_value("dmf_command_duration_seconds_count",
                                     {"step": "dsync"}) == 2
    assert registry.get_sample_value("dmf_command_duration_seconds_count",
                                     {"step": "post migration command"}) == 1


async def test_cancelled_job_kills_its_child(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch, hold=60)
    job = asyncio.create_task(run_job(make_context(), make_config(FAKE_DOVEADM)))
    for _ in range(500):
        if fake.calls():
            break
        await asyncio.sleep(0.01)
    pid = fake.calls()[0]["pid"]
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped
