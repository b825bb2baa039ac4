"""Queue benchmark: claim-and-finish throughput and claim latency of the migration database.

For SQLite, PostgreSQL 15 and MariaDB (private servers started as the tests start them), and for
1, 4 and 8 worker processes: 10,000 no-op jobs (distinct users unless --users says otherwise) are
queued, then the workers claim batches, finish each job SUCCESS, and stop when nothing is left.
Throughput is jobs / wall time from the common start to the last finish; latency is per `claim`
call (one transaction). CPU is what the workers and the database server burnt per job (from
getrusage and /proc): unlike wall time it does not depend on what else the machine runs, and
cores / CPU-per-job bounds the throughput an otherwise idle machine can reach.
With --cache N the workers claim as `dmf worker` does: from the front of a local cache of N
candidate ids (`peek_queued`, refilled when used up), naming them in each claim; without it
each claim picks from the whole queue.
Targets (issue 3): >= 1,000 jobs/s with 4 workers on PostgreSQL, p99
claim < 20 ms.

    .venv/bin/python bench/queue.py [--jobs 10000] [--batch 10] [--workers 1,4,8]
                                    [--databases sqlite,postgresql,mariadb] [--cache 0]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py and Python puts its directory first on sys.path, where it would
# shadow the standard library's `queue` (needed by multiprocessing): take that entry out first.
_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _BENCH_DIR]
sys.path.insert(0, str(_BENCH_DIR.parent))

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from tests.fixtures.databases import (  # noqa: E402
    DatabaseServer,
    ServerUnavailable,
    start_mariadb,
    start_postgres,
)

from dmf.migration_db.models import JobStatus  # noqa: E402
from dmf.migration_db.records import NewJob  # noqa: E402
from dmf.migration_db.repository import MigrationRepository  # noqa: E402

TARGET, SOURCE = "bench", "POD_1"


@dataclass(frozen=True)
class Figures:
    database: str
    workers: int
    jobs: int
    seconds: float
    claim_ms: list[float]
    cpu_seconds: float

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds

    @property
    def cpu_ms_per_job(self) -> float:
        return self.cpu_seconds * 1000 / self.jobs

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.claim_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _worker(url: str, backend: str, batch: int, cache_size: int,
            start_at: float) -> tuple[int, float, list[float], float]:
    """Returns (jobs finished, monotonic time of the last finish, claim latencies in ms, CPU
    seconds spent from the start)."""
    repository = MigrationRepository.connect(url)
    latencies: list[float] = []
    cache: list[int] = []
    finished = 0
    idle_rounds = 0
    repository.peek_queued(TARGET, [SOURCE], 1)  # open the pooled connection before the clock
    time.sleep(max(0.0, start_at - time.time()))
    cpu_at_start = _own_cpu()
    try:
        while idle_rounds < 3:
            candidates = None
            if cache_size:
                cache = cache or repository.peek_queued(TARGET, [SOURCE], cache_size)
                candidates, cache = cache[:batch], cache[batch:]
            began = time.perf_counter()
            claimed = repository.claim(backend, TARGET, [SOURCE], batch, candidates)
            latencies.append((time.perf_counter() - began) * 1000)
            if not claimed:
                if candidates:  # other workers took them: try the next ones
                    continue
                idle_rounds += 1
                time.sleep(0.005)
                continue
            idle_rounds = 0
            for item in claimed:
                repository.finish(item.job.id, backend, JobStatus.SUCCESS, [])
                finished += 1
        return finished, time.monotonic(), latencies, _own_cpu() - cpu_at_start
    finally:
        repository.close()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(server: DatabaseServer | None) -> float:
    """CPU seconds of the server process and its reaped children (PostgreSQL's backends)."""
    if server is None:
        return 0.0
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_once(database: str, url: str, workers: int, jobs: int, users: int,
             batch: int, cache_size: int, server: DatabaseServer | None) -> Figures:
    repository = MigrationRepository.connect(url)
    try:
        repository.upgrade()
        repository.create_target(TARGET)
        repository.create_source(SOURCE)
        repository.submit_jobs([NewJob(TARGET, SOURCE, f"user{n % users}", priority=n % 3)
                                for n in range(jobs)])
    finally:
        repository.close()
    start_at = time.time() + 2.0
    server_cpu_before = _server_cpu(server)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(_worker, url, f"{TARGET}/{n}", batch, cache_size, start_at)
                   for n in range(workers)]
        results = [future.result() for future in futures]
    # The workers closed their connections: PostgreSQL's backends are gone and counted.
    time.sleep(0.3)
    cpu = sum(result[3] for result in results) + _server_cpu(server) - server_cpu_before
    started = time.monotonic() - (time.time() - start_at)
    done = sum(result[0] for result in results)
    if done != jobs:
        raise SystemExit(f"{database}/{workers}: finished {done} of {jobs} jobs")
    last_finish = max(result[1] for result in results)
    # Idle polls at the end are not claims of work: drop the trailing empty rounds' latency.
    latencies = [ms for result in results for ms in result[2][:-3]]
    return Figures(database, workers, jobs, last_finish - started, latencies, cpu)


def _new_database(database: str, servers: dict[str, DatabaseServer], scratch: Path,
                  run: int) -> str:
    if database == "sqlite":
        return f"sqlite:///{scratch / f'queue-{run}.db'}"
    return servers[database].new_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=None, help="default: one per job")
    parser.add_argument("--batch", type=int, default=10, help="jobs per claim call")
    parser.add_argument("--workers", default="1,4,8")
    parser.add_argument("--databases", default="sqlite,postgresql,mariadb")
    parser.add_argument("--cache", type=int, default=0,
                        help="claim from a local cache of this many candidate ids (0: none)")
    options = parser.parse_args()
    databases = options.databases.split(",")
    worker_counts = [int(n) for n in options.workers.split(",")]
    servers: dict[str, DatabaseServer] = {}
    starters = {"postgresql": start_postgres, "mariadb": start_mariadb}
    rows: list[Figures] = []
    try:
        for database in databases:
            if database in starters:
                try:
                    servers[database] = starters[database]()
                except ServerUnavailable as error:
                    print(f"{database}: skipped ({error})", file=sys.stderr)
                    continue
        with tempfile.TemporaryDirectory(prefix="dmf-bench-queue-") as scratch:
            for database in databases:
                if database != "sqlite" and database not in servers:
                    continue
                for workers in worker_counts:
                    url = _new_database(database, servers, Path(scratch), len(rows))
                    figures = run_once(database, url, workers, options.jobs,
                                       options.users or options.jobs, options.batch,
                                       options.cache, servers.get(database))
                    rows.append(figures)
                    print(f"{database:<11} {workers:>2} workers  {figures.jobs_per_second:8.0f} "
                          f"jobs/s  claim p50 {figures.percentile(0.5):6.2f} ms  "
                          f"p99 {figures.percentile(0.99):6.2f} ms  "
                          f"mean {statistics.fmean(figures.claim_ms):6.2f} ms  "
                          f"CPU {figures.cpu_ms_per_job:5.2f} ms/job", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    cores = os.cpu_count() or 1
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {cores} cores; "
          f"an idle machine's bound is cores / CPU per job")
    via = f"from a cache of {options.cache} candidates" if options.cache else "from the queue"
    print(f"{options.jobs} no-op jobs, {options.batch} per claim {via}; target: >= 1000 jobs/s "
          "with 4 workers on PostgreSQL, p99 claim < 20 ms")
    for figures in rows:
        if figures.database == "postgresql" and figures.workers == 4:
            verdict = ("met" if figures.jobs_per_second >= 1000
                       and figures.percentile(0.99) < 20 else "NOT met")
            print(f"postgresql, 4 workers: {verdict}")


if __name__ == "__main__":
    main()
