"""Command logging: file naming, contents, delete-on-success, logger and off."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from dmf.errors import ConfigError
from dmf.worker.command_log import log_file_name, open_command_log
from dmf.worker.job_run import run_job
from tests.worker.scripts.job_harness import (
    FAKE_DOVEADM,
    PASSWORD,
    FakeDoveadm,
    make_config,
    make_context,
)

FORMAT = "%(source)-%(user)-%(phase)-%(job)-%(date).log"
TODAY = dt.datetime.now(dt.UTC).date()


def file_logging(location: Path, delete_on_success: bool,
                 name_format: str = FORMAT) -> dict[str, object]:
    return {"type": "file", "file": {"format": name_format, "location": str(location),
                                     "delete-on-success": delete_on_success}}


def test_file_name_specifiers() -> None:
    context = make_context(uid="a/b", job_id=7, phase="cutover")
    assert log_file_name(FORMAT, context, dt.date(2026, 11, 23)) == \
        "POD_1-a_b-cutover-7-2026-11-23.log"
    assert log_file_name("%(source)-%(user)-user-migration.log", context, TODAY) == \
        "POD_1-a_b-user-migration.log"


@pytest.mark.parametrize("uid", ["..", "."])
def test_file_name_cannot_leave_location(uid: str) -> None:
    with pytest.raises(ConfigError, match="not a plain file name"):
        log_file_name("%(user)", make_context(uid=uid), TODAY)


def test_unknown_logging_type() -> None:
    with pytest.raises(ConfigError, match="syslog"):
        open_command_log("syslog", name_format=FORMAT, location="/tmp", delete_on_success=False,
                         context=make_context(), secrets=())


async def test_file_log_kept_for_failed_job_removed_for_good_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    fake = FakeDoveadm(tmp_path / "fake", monkeypatch, backup_exits=[75, 0],
                       backup_lines=[[f"dsync(user1): Error: login {PASSWORD} refused"]])
    config = make_config(FAKE_DOVEADM, logging=file_logging(logs, delete_on_success=True))
    failed = await run_job(make_context(job_id=1), config)
    assert not failed.success
    (path,) = logs.iterdir()  # named with the day the job ran (a run may cross midnight)
    assert path.name in {f"POD_1-user1-pre-sync-1-{day.isoformat()}.log"
                         for day in (TODAY, dt.datetime.now(dt.UTC).date())}
    text = path.read_text()
    assert text.startswith(f"# {FAKE_DOVEADM} -v -o imapc_host=imap.old.example")
    assert "imapc_password=<hidden>" in text
    assert "dsync(user1): Error: login <hidden> refused\n# exit 75\n" in text
    assert PASSWORD not in text
    assert path.stat().st_mode & 0o077 == 0

    succeeded = await run_job(make_context(job_id=2), config)  # attempt 2 of the fake: exit 0
    assert succeeded.success
    assert sorted(p.name for p in logs.iterdir()) == [path.name]
    assert len(fake.calls()) == 2


async def test_file_log_kept_without_delete_on_success(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDoveadm(tmp_path / "fake", monkeypatch)
    name_format = "%(source)-%(user)-user-migration.log"
    config = make_config(FAKE_DOVEADM, logging=file_logging(tmp_path, False, name_format))
    for _ in range(2):
        assert (await run_job(make_context(), config)).success
    text = (tmp_path / "POD_1-user1-user-migration.log").read_text()
    assert text.count("# exit 0") == 2  # runs of one user append to one file


async def test_unusable_location_fails_job_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    config = make_config(FAKE_DOVEADM, logging=file_logging(blocker / "logs", False))
    outcome = await run_job(make_context(), config)
    assert not outcome.success
    assert outcome.details[0]["configuration"]["success"] is False


async def test_logger_and_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              caplog: pytest.LogCaptureFixture) -> None:
    FakeDoveadm(tmp_path / "fake", monkeypatch,
                backup_lines=[["dsync(user1): Info: hello from the child"]])
    caplog.set_level(logging.INFO, logger="dmf.worker.command")
    assert (await run_job(make_context(), make_config(FAKE_DOVEADM,
                                                      logging={"type": "logger"}))).success
    assert "job 42 (POD_1 user1 pre-sync): dsync(user1): Info: hello from the child" \
        in caplog.text
    caplog.clear()
    assert (await run_job(make_context(), make_config(FAKE_DOVEADM,
                                                      logging={"type": "off"}))).success
    assert "hello from the child" not in caplog.text
    assert list(tmp_path.glob("*.log")) == []
