"""ServiceMetrics on its own registry: two services in one process never collide, and the
database pool is read at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import create_engine, text

from dmf.service.metrics import JobOutcome, ServiceMetrics, watch_connection_pool


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels or None)


def test_two_services_in_one_process_keep_their_own_figures():
    first, second = CollectorRegistry(), CollectorRegistry()
    a, b = ServiceMetrics(first), ServiceMetrics(second)
    a.job_started()
    a.job_finished(JobOutcome.FAILURE, "cutover", 2.0)
    b.job_started()
    assert sample(first, "dmf_jobs_failed_total") == 1
    assert sample(second, "dmf_jobs_failed_total") == 0
    assert sample(first, "dmf_jobs_running") == 0
    assert sample(second, "dmf_jobs_running") == 1
    assert sample(first, "dmf_job_duration_seconds_sum", phase="cutover") == 2.0


def test_claim_latency_buckets_resolve_milliseconds():
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    for seconds in (0.0005, 0.004, 0.015, 0.3):
        metrics.job_claimed(seconds)
    assert sample(registry, "dmf_claim_latency_seconds_bucket", le="0.005") == 2
    assert sample(registry, "dmf_claim_latency_seconds_bucket", le="0.02") == 3
    assert sample(registry, "dmf_claim_latency_seconds_count") == 4


def test_connection_pool_is_read_at_scrape_time(tmp_path):
    registry = CollectorRegistry()
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_size=3)
    assert watch_connection_pool(registry, engine.pool)
    with engine.connect() as connection:
        connection.execute(text("select 1"))
        assert sample(registry, "dmf_db_connections_active") == 1
    assert sample(registry, "dmf_db_connections_active") == 0
    assert sample(registry, "dmf_db_connections_idle") == 1
    assert sample(registry, "dmf_db_connections_size") == 3
    assert b"dmf_db_connections_overflow" in generate_latest(registry)
    engine.dispose()


def test_a_pool_without_figures_is_not_watched():
    registry = CollectorRegistry()
    assert not watch_connection_pool(registry, object())
    assert sample(registry, "dmf_db_connections_active") is None
