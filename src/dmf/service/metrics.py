"""Every metric a dmf service exports, on a registry passed in (never prometheus_client's global
one, so building an app twice in one process, as tests do, cannot collide).

The worker calls the methods of `ServiceMetrics` at the points of a job's life; the endpoints
read the registry. Names follow Prometheus conventions (`dmf_jobs_succeeded_total`); the JSON
`/metrics` view shows them dotted, as Micronaut does (`dmf.jobs.succeeded`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Migrations run from seconds to hours; claims take milliseconds.
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, float("inf"))
COMMAND_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, float("inf"))
CLAIM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, float("inf"))


class JobOutcome(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class ConnectionPool(Protocol):
    """What SQLAlchemy's QueuePool offers; other pools (SQLite's) lack it and are not watched."""

    def size(self) -> int: ...
    def checkedout(self) -> int: ...
    def checkedin(self) -> int: ...
    def overflow(self) -> int: ...


class _PoolCollector(Collector):
    """Reads the pool at scrape time: nothing to keep up to date, so it costs nothing between."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        figures = {
            "dmf_db_connections_active": ("Connections checked out of the pool",
                                          self._pool.checkedout()),
            "dmf_db_connections_idle": ("Connections idle in the pool", self._pool.checkedin()),
            "dmf_db_connections_size": ("Configured pool size", self._pool.size()),
            "dmf_db_connections_overflow": ("Connections open beyond the pool size",
                                            max(self._pool.overflow(), 0)),
        }
        for name, (documentation, value) in figures.items():
            yield GaugeMetricFamily(name, documentation, value=value)


def watch_connection_pool(registry: CollectorRegistry, pool: object) -> bool:
    """Export a SQLAlchemy pool's figures (`dmf_db_connections_*`) if it keeps any; returns
    whether it does."""
    if not all(callable(getattr(pool, name, None))
               for name in ("size", "checkedout", "checkedin", "overflow")):
        return False
    registry.register(_PoolCollector(pool))  # type: ignore[arg-type]
    return True


class ServiceMetrics:
    """The metrics of one service process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.jobs_running = Gauge("dmf_jobs_running", "Migration jobs running now",
                                  registry=registry)
        self.jobs_succeeded = Counter("dmf_jobs_succeeded", "Migration jobs that succeeded",
                                      registry=registry)
        self.jobs_failed = Counter("dmf_jobs_failed", "Migration jobs that failed",
                                   registry=registry)
        self.jobs_retried = Counter("dmf_jobs_retried", "Command attempts that were retried",
                                    registry=registry)
        self.job_duration = Histogram("dmf_job_duration_seconds", "Duration of whole jobs",
                                      ["phase"], buckets=JOB_BUCKETS, registry=registry)
        self.command_duration = Histogram("dmf_command_duration_seconds",
                                          "Duration of the commands a job runs, by step",
                                          ["step"], buckets=COMMAND_BUCKETS, registry=registry)
        self.claim_latency = Histogram("dmf_claim_latency_seconds",
                                       "Time to claim a job from the migration database",
                                       buckets=CLAIM_BUCKETS, registry=registry)
        self.executor_active = Gauge("dmf_executor_active", "Jobs the executor is running",
                                     registry=registry)
        self.executor_max = Gauge("dmf_executor_pool_max", "Jobs the executor may run at once",
                                  registry=registry)
        self.executor_queued = Gauge("dmf_executor_queued",
                                     "Claimed jobs waiting for an executor slot",
                                     registry=registry)
        ProcessCollector(registry=registry)

    def job_started(self) -> None:
        self.jobs_running.inc()

    def job_finished(self, outcome: JobOutcome, phase: str, duration_seconds: float) -> None:
        self.jobs_running.dec()
        (self.jobs_succeeded if outcome is JobOutcome.SUCCESS else self.jobs_failed).inc()
        self.job_duration.labels(phase=phase).observe(duration_seconds)

    def job_retried(self) -> None:
        self.jobs_retried.inc()

    def command_finished(self, step: str, duration_seconds: float) -> None:
        self.command_duration.labels(step=step).observe(duration_seconds)

    def job_claimed(self, latency_seconds: float) -> None:
        self.claim_latency.observe(latency_seconds)

    def executor_state(self, *, active: int, max_threads: int, queued: int) -> None:
        self.executor_active.set(active)
        self.executor_max.set(max_threads)
        self.executor_queued.set(queued)

    def watch_connection_pool(self, pool: object) -> bool:
        return watch_connection_pool(self.registry, pool)
