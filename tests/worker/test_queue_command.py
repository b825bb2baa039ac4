"""The queue with the `command` job type: two `dmf worker` processes run a tiny script that records
`<job tag> <uid> <start> <end>` for every run it makes. The script's own record, not the
database's, shows each job ran exactly once and no user ever had two runs at once."""

from __future__ import annotations

import collections
import time

import pytest

from dmf.migration_db.models import JobStatus
from dmf.migration_db.records import JobFilter, NewJob
from dmf.migration_db.repository import MigrationRepository
from tests.worker.worker_processes import WorkerProcess

USERS = 50
JOBS_PER_USER = 4

RECORDER = """#!/bin/sh
start=$(date +%s.%N)
sleep 0.02
end=$(date +%s.%N)
echo "$1 $2 $start $end" >> "$3"
"""


@pytest.mark.slow
def test_command_jobs_run_exactly_once_and_never_overlap_per_user(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'migration.db'}"
    repository = MigrationRepository.connect(db_url)
    repository.upgrade()
    repository.create_target("t")
    repository.create_source("default")
    repository.submit_jobs([
        NewJob(target="t", source="default", uid=f"user{u}", email=f"job-{u}-{k}@example.org")
        for k in range(JOBS_PER_USER) for u in range(USERS)])
    script = tmp_path / "record.sh"
    script.write_text(RECORDER)
    script.chmod(0o755)
    runs = tmp_path / "runs.txt"
    command_type = {
        "type": "command",
        "command": {"logging": {"type": "off"}},
    }
    doveadm = {"source": {"default": {"command": {"sync": {"sync": {
        "name": str(script), "arguments": ["%{mdb:email}", "%{mdb:uid}", str(runs)]}}}}}}
    workers = [WorkerProcess(tmp_path, db_url, str(n), **command_type) for n in (1, 2)]
    for worker in workers:
        worker.extend_config({"dmf": {"doveadm": doveadm}})
        worker.start()
    try:
        for worker in workers:
            worker.wait_ready()
        deadline = time.monotonic() + 60
        while repository.count_jobs(JobFilter(statuses=[JobStatus.SUCCESS, JobStatus.FAILURE])) \
                < USERS * JOBS_PER_USER:
            assert time.monotonic() < deadline, [w.log() for w in workers]
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.stop()
    assert repository.count_jobs(JobFilter(statuses=[JobStatus.SUCCESS])) == USERS * JOBS_PER_USER
    repository.close()

    records = [line.split() for line in runs.read_text().splitlines()]
    tags = collections.Counter(tag for tag, *_ in records)
    assert len(tags) == USERS * JOBS_PER_USER
    assert set(tags.values()) == {1}
    by_user: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for _tag, uid, start, end in records:
        by_user[uid].append((float(start), float(end)))
    for uid, intervals in by_user.items():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert end <= start, uid
