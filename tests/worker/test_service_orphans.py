"""No child of a `dmf worker` outlives it: after `kill -9` of the worker, the job's command and
the processes that command started are gone within a second, so the job, once reclaimed, never
runs twice side by side."""

from __future__ import annotations

import os
import signal

from dmf.migration_db.models import JobStatus
from dmf.migration_db.records import JobFilter, NewJob
from tests.fixtures.polling import wait_for
from tests.fixtures.processes import alive, children_of
from tests.worker.worker_processes import WorkerProcess

SCRIPT = """#!/bin/sh
# a migration command that starts a child of its own and waits for it
echo $$ > "$1"
sleep 30
"""


def test_kill_9_of_the_worker_ends_its_command_and_the_command_s_children(repository,
                                                                          tmp_path):
    script = tmp_path / "migrate.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    pid_file = tmp_path / "script.pid"
    repository.submit_jobs([NewJob(target="t", source="default", uid="u1")])
    worker = WorkerProcess(tmp_path, repository.engine.url.render_as_string(hide_password=False),
                           "1", type="command")
    worker.extend_config({"dmf": {"doveadm": {"source": {"default": {
        "count": {"pre": False, "post": False, "remote": False}, "retry": {"max": 0},
        "command": {"sync": {"sync": {"name": str(script), "arguments": [str(pid_file)]}}}}}}}})
    worker.start()
    family: list[int] = []
    try:
        worker.wait_ready()
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 10,
                 f"script started: {worker.log()}")
        script_pid = int(pid_file.read_text())
        family.append(script_pid)
        wait_for(lambda: children_of(script_pid), 5, "the script's sleep started")
        family += children_of(script_pid)
        assert repository.count_jobs(JobFilter(statuses=[JobStatus.RUNNING])) == 1
        worker.signal(signal.SIGKILL)
        worker.wait(5)
        wait_for(lambda: not any(alive(pid) for pid in family), 1.0,
                 f"still running after the worker's death: "
                 f"{[pid for pid in family if alive(pid)]}")
    finally:
        worker.stop()
        for pid in family:  # survivors of a failed run must not outlive the test
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
