"""`dmf jobs` and `dmf backends` (src/dmf/cli/jobs.py, backends.py) against a real scheduler
over HTTP. They live here, next to the API they drive, because tests/cli belongs to the sync
commands. The CLI runs in-process (`dmf.cli.main.main`) where only its output matters, and as
a real `dmf` process where the exit code or a terminal does."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import NamedTuple

import pytest

from dmf.cli.main import main
from dmf.migration_db.crypto import unwrap
from dmf.migration_db.models import BackendCommand, BackendStatus
from tests.api.conftest import ADMIN

SOURCE_PASSWORD = "s0urce'pw; $(id)"


@pytest.fixture
def sched(sqlite_scheduler, fresh):
    sqlite_scheduler.call("POST", "/targets", json={"name": fresh})
    sqlite_scheduler.call("POST", "/sources", json={"name": "POD_1"})
    return sqlite_scheduler


def environment(scheduler, password: str | None = ADMIN[1]) -> dict[str, str]:
    env = {"DMF_SCHEDULER_URL": scheduler.url, "DMF_SCHEDULER_USER": ADMIN[0]}
    if password is not None:
        env["DMF_SCHEDULER_PASSWORD"] = password
    return env


class Result(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run(monkeypatch, capsys):
    """`dmf ARGV...` in this process, with the scheduler's connection in the environment."""

    def invoke(scheduler, *argv: str) -> Result:
        for key, value in environment(scheduler).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(argv))
        gc.unfreeze()  # main freezes for a process about to end; this one goes on
        out, err = capsys.readouterr()
        return Result(exited.value.code, out, err)

    return invoke


def test_submit_show_list_cancel_requeue(run, sched, fresh, tmp_path):
    secret_file = tmp_path / "source-password"
    secret_file.write_text(SOURCE_PASSWORD + "\n")
    submitted = run(sched, "jobs", "submit", "-t", fresh, "-u", "alice", "--source", "POD_1",
                    "--imapcoptions", "-o imapc_features=gmail-migration; rm -rf /",
                    "--phase", "cutover", "--priority", "5",
                    "--source-password-file", str(secret_file))
    assert submitted.exit_code == 0, submitted.stderr
    job_id = int(submitted.stdout.strip())
    record = sched.repository.get_job(job_id)
    assert record.imapcoptions == "-o imapc_features=gmail-migration; rm -rf /"
    assert record.phase.value == "cutover" and record.priority == 5
    assert unwrap(record.password, sched.key, target=fresh, source="POD_1",
                  uid="alice") == SOURCE_PASSWORD

    shown = run(sched, "jobs", "show", str(job_id))
    detail = json.loads(shown.stdout)
    assert detail["uid"] == "alice" and detail["passwordStored"] is True
    assert SOURCE_PASSWORD not in shown.stdout

    listed = run(sched, "-f", "tab", "jobs", "list", "-t", fresh, "--status", "QUEUED")
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "target", "uid", "source", "phase", "priority",
                                    "status", "attempts", "backend", "submitted"]
    assert lines[1].split("\t")[:7] == [str(job_id), fresh, "alice", "POD_1", "cutover", "5",
                                        "QUEUED"]
    assert "1 of 1 jobs" in listed.stderr

    cancelled = run(sched, "jobs", "cancel", str(job_id))
    assert cancelled.stdout == f"{job_id}\tCANCELLED\n"
    requeued = run(sched, "jobs", "requeue", str(job_id))
    assert requeued.stdout == f"{job_id}\tQUEUED\n"


def test_submit_csv(run, sched, fresh, tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("uid,source,exclude\nu1,POD_1,\"Trash, Spam\"\nu2,POD_1,\n")
    result = run(sched, "jobs", "submit", "-t", fresh, "--csv", str(users))
    assert result.exit_code == 0, result.stderr
    ids = [int(line) for line in result.stdout.split()]
    assert [sched.repository.get_job(i).exclude for i in ids] == ["Trash, Spam", None]


def test_admin_password_from_a_prompt(sched, fresh):
    """Without a terminal (a new session has none) the prompt reads stdin, as getpass does."""
    env = {**os.environ, **environment(sched, password=None)}
    result = subprocess.run([sys.executable, "-m", "dmf", "jobs", "list", "-t", fresh],
                            env=env, input=ADMIN[1] + "\n", capture_output=True, text=True,
                            timeout=60, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert f"Password for {ADMIN[0]}: " in result.stderr
    assert ADMIN[1] not in result.stdout + result.stderr


def test_an_empty_password_from_a_pipe_is_refused_in_one_line(sched, fresh):
    env = {**os.environ, **environment(sched, password=None)}
    result = subprocess.run([sys.executable, "-m", "dmf", "jobs", "list", "-t", fresh],
                            env=env, input="\n", capture_output=True, text=True, timeout=60,
                            start_new_session=True)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"Error: Password for {ADMIN[0]}: empty input"


def test_backends_list_pause_start_stop_set_max(run, sched, fresh):
    repository = sched.repository
    repository.register_backend(fresh, "1", BackendStatus.STARTED, 10)
    name = f"{fresh}/1"
    listed = run(sched, "-f", "tab", "backends", "list", "-t", fresh)
    header, row = listed.stdout.splitlines()
    assert header.split("\t")[:5] == ["name", "status", "threads", "maxThreads",
                                      "initialState"]
    assert row.split("\t")[:5] == [name, "STOPPED", "0", "10", "STARTED"]
    for order in ("pause", "start", "stop"):
        result = run(sched, "backends", order, name)
        assert result.stdout == f"{name}\t{order.upper()} sent\n"
        assert repository.take_command(name) == BackendCommand(order.upper())
    assert run(sched, "backends", "set-max", name, "7").stdout == f"{name}\tmaxThreads 7\n"
    assert repository.get_backend(name).max_threads == 7


def dmf(scheduler, *argv: str, password: str | None = ADMIN[1]) -> subprocess.CompletedProcess:
    env = {**os.environ, **environment(scheduler, password)}
    return subprocess.run([sys.executable, "-m", "dmf", *argv], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("argv", "password", "code", "message"), [
    (("jobs", "list"), "wrong", 77, "authentication required"),
    (("jobs", "show", "999999"), ADMIN[1], 68, "unknown job 999999"),
    (("jobs", "requeue", "1"), ADMIN[1], 65, "only finished jobs requeue"),
    (("backends", "pause", "no-slash"), ADMIN[1], 64, "expected target/memberid"),
    (("backends", "pause", "nowhere/1"), ADMIN[1], 68, "unknown target"),
])
def test_failures_exit_with_doveadm_codes(sched, fresh, argv, password, code, message):
    sched.call("POST", "/jobs", json={"target": fresh, "source": "POD_1", "uid": "u"})
    result = dmf(sched, *argv, password=password)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_ca_file_that_is_no_certificate_is_a_configuration_error(sched, tmp_path):
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    result = dmf(sched, "jobs", "list", "--cacert", str(garbage))
    assert result.returncode == 78, result.stderr
    assert result.stderr.startswith(f"Error: CA certificate file {garbage}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_scheduler_is_a_temporary_failure(sched):
    result = subprocess.run([sys.executable, "-m", "dmf", "jobs", "list"],
                            env={**os.environ, "DMF_SCHEDULER_URL": "http://127.0.0.1:9",
                                 "DMF_SCHEDULER_USER": "a", "DMF_SCHEDULER_PASSWORD": "b"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 75
    assert "ConnectError" in result.stderr
