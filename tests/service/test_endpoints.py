"""/health, /metrics, /metrics/{name} and /prometheus over real HTTP, under the seed's switches."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine

from dmf.service.endpoints import install_service
from dmf.service.health import HealthProbe
from dmf.service.http_settings import (
    AdminCredentials,
    EndpointsSettings,
    SecuritySettings,
    ServiceHttpSettings,
    SslSettings,
)
from dmf.service.metrics import JobOutcome
from tests.service.live_server import live_server
from tests.service.service_app import ADMIN, HTTP, make_app

PROTECTED = ["/metrics", "/metrics/dmf.jobs.running", "/prometheus"]


def test_anonymous_health_is_status_only_and_details_need_credentials(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/migration.db")
    app, _ = make_app({"health": {"disk-space": {"path": str(tmp_path), "threshold": 1}}},
                      engine=engine)
    with live_server(app) as url:
        anonymous = HTTP.get(f"{url}/health")
        detailed = HTTP.get(f"{url}/health", auth=ADMIN)
    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "UP"}
    body = detailed.json()
    assert detailed.status_code == 200 and body["status"] == "UP" and body["name"] == "worker"
    (url_key, database), = body["details"]["jdbc"]["details"].items()
    assert url_key == f"sqlite:///{tmp_path}/migration.db"
    assert database["details"]["database"] == "SQLite"
    assert database["details"]["version"].count(".") == 2
    disk = body["details"]["diskSpace"]["details"]
    assert disk["path"] == str(tmp_path) and disk["threshold"] == 1
    assert 0 < disk["free"] <= disk["total"]
    assert body["details"]["service"]["status"] == "UP"


def test_health_shows_database_url_without_password():
    # An unreachable PostgreSQL: the indicator is DOWN, the URL shown has no password.
    engine = create_engine("postgresql+psycopg://dmf:topsecret@127.0.0.1:1/migration",
                           connect_args={"connect_timeout": 2})
    app, _ = make_app(engine=engine)
    with live_server(app) as url:
        response = HTTP.get(f"{url}/health", auth=ADMIN)
    assert response.status_code == 503
    assert "topsecret" not in response.text
    jdbc = response.json()["details"]["jdbc"]
    assert jdbc["status"] == "DOWN"
    assert list(jdbc["details"]) == ["postgresql+psycopg://dmf@127.0.0.1:1/migration"]


@pytest.mark.parametrize("why", ["disk below threshold", "service stopping"])
def test_down_health_answers_503(tmp_path, why):
    if why == "disk below threshold":
        app, _ = make_app({"health": {"disk-space": {"path": str(tmp_path),
                                                     "threshold": 2**62}}})
    else:
        app, _ = make_app(service_up=False)
    with live_server(app) as url:
        anonymous = HTTP.get(f"{url}/health")
    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "DOWN"}


@pytest.mark.parametrize("path", ["/health", *PROTECTED])
@pytest.mark.parametrize("auth", [("admin", "wrong"), ("root", ADMIN[1]), ("", "")])
def test_wrong_credentials_get_401_everywhere(path, auth):
    app, _ = make_app()
    with live_server(app) as url:
        response = HTTP.get(f"{url}{path}", auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("path", PROTECTED)
def test_missing_credentials_get_401_on_sensitive_endpoints(path):
    app, _ = make_app()
    with live_server(app) as url:
        response = HTTP.get(f"{url}{path}")
        malformed = HTTP.get(f"{url}{path}", headers={"Authorization": "Basic %%%"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert malformed.status_code == 401


def test_metrics_report_what_the_service_recorded():
    app, metrics = make_app()
    metrics.job_started()
    metrics.job_started()
    metrics.job_finished(JobOutcome.SUCCESS, "pre-sync", 12.5)
    metrics.job_retried()
    metrics.command_finished("sync", 3.0)
    metrics.command_finished("pre", 1.0)
    metrics.executor_state(active=1, max_threads=10, queued=4)
    with live_server(app) as url:
        names = HTTP.get(f"{url}/metrics", auth=ADMIN).json()["names"]
        running = HTTP.get(f"{url}/metrics/dmf.jobs.running", auth=ADMIN).json()
        commands = HTTP.get(f"{url}/metrics/dmf.command.duration.seconds", auth=ADMIN).json()
        sync_only = HTTP.get(f"{url}/metrics/dmf.command.duration.seconds",
                              params={"tag": "step:sync"}, auth=ADMIN).json()
        unknown = HTTP.get(f"{url}/metrics/no.such.metric", auth=ADMIN)
        bad_tag = HTTP.get(f"{url}/metrics/dmf.jobs.running", params={"tag": "nocolon"},
                            auth=ADMIN)
        exposition = HTTP.get(f"{url}/prometheus", auth=ADMIN)
    assert {"dmf.jobs.running", "dmf.jobs.succeeded", "dmf.jobs.failed", "dmf.jobs.retried",
            "dmf.job.duration.seconds", "dmf.command.duration.seconds",
            "dmf.claim.latency.seconds", "dmf.executor.active", "dmf.executor.pool.max",
            "dmf.executor.queued", "process.cpu.seconds"} <= set(names)
    assert running == {"name": "dmf.jobs.running", "description": "Migration jobs running now",
                       "measurements": [{"statistic": "VALUE", "value": 1.0}],
                       "availableTags": []}
    assert {m["statistic"]: m["value"] for m in commands["measurements"]} == \
        {"COUNT": 2.0, "TOTAL_TIME": 4.0}
    assert commands["availableTags"] == [{"tag": "step", "values": ["pre", "sync"]}]
    assert {m["statistic"]: m["value"] for m in sync_only["measurements"]} == \
        {"COUNT": 1.0, "TOTAL_TIME": 3.0}
    assert unknown.status_code == 404
    assert bad_tag.status_code == 400
    assert exposition.headers["content-type"].startswith("text/plain")
    text = exposition.text
    assert "dmf_jobs_succeeded_total 1.0" in text
    assert "dmf_jobs_retried_total 1.0" in text
    assert 'dmf_job_duration_seconds_count{phase="pre-sync"} 1.0' in text
    assert "dmf_executor_queued 4.0" in text
    assert "process_cpu_seconds_total" in text


def test_insensitive_metrics_are_anonymous_and_disabled_ones_are_gone():
    app, _ = make_app({"metrics": {"sensitive": False}, "prometheus": {"enabled": False}})
    with live_server(app) as url:
        assert HTTP.get(f"{url}/metrics").status_code == 200
        assert HTTP.get(f"{url}/prometheus", auth=ADMIN).status_code == 404


def test_all_disabled_leaves_only_explicitly_enabled_endpoints():
    app, _ = make_app({"all": {"enabled": False}, "health": {"enabled": True}})
    with live_server(app) as url:
        assert HTTP.get(f"{url}/health").status_code == 200
        for path in PROTECTED:
            assert HTTP.get(f"{url}{path}", auth=ADMIN).status_code == 404


def test_sensitive_health_refuses_anonymous_callers():
    app, _ = make_app({"health": {"sensitive": True}})
    with live_server(app) as url:
        assert HTTP.get(f"{url}/health").status_code == 401
        assert HTTP.get(f"{url}/health", auth=ADMIN).json()["status"] == "UP"


def test_details_never_visible_when_configured_so():
    app, _ = make_app({"health": {"details-visible": "NEVER"}})
    with live_server(app) as url:
        assert HTTP.get(f"{url}/health", auth=ADMIN).json() == {"status": "UP"}


def test_security_disabled_opens_everything_and_ignores_ip_patterns():
    app, _ = make_app(security={"enabled": False, "ip-patterns": ["10.9.9.9"]})
    with live_server(app) as url:
        for path in PROTECTED:
            assert HTTP.get(f"{url}{path}").status_code == 200
        assert "details" in HTTP.get(f"{url}/health").json()


def test_unconfigured_admin_account_lets_nobody_in():
    http = ServiceHttpSettings(SslSettings(), SecuritySettings(), EndpointsSettings(),
                               AdminCredentials())
    registry = CollectorRegistry()
    app = FastAPI()
    install_service(app, http, registry, HealthProbe("worker", EndpointsSettings().health))
    with live_server(app) as url:
        assert HTTP.get(f"{url}/metrics", auth=("", "")).status_code == 401
        assert HTTP.get(f"{url}/metrics", auth=("admin", "None")).status_code == 401
        assert HTTP.get(f"{url}/health").status_code == 200


def test_health_names_each_real_database_and_its_version(db_url):
    engine = create_engine(db_url)
    app, _ = make_app(engine=engine)
    try:
        with live_server(app) as url:
            response = HTTP.get(f"{url}/health", auth=ADMIN)
    finally:
        engine.dispose()
    assert response.status_code == 200
    jdbc = response.json()["details"]["jdbc"]
    (shown_url, database), = jdbc["details"].items()
    assert shown_url == engine.url._replace(password=None).render_as_string(
        hide_password=False)
    assert engine.url.password is None or engine.url.password not in response.text
    product = {"sqlite": "SQLite", "postgresql": "PostgreSQL",
               "mariadb": "MariaDB"}[engine.dialect.name]
    assert database["details"]["database"] == product
    assert database["details"]["version"][0].isdigit()
    if product == "MariaDB":
        assert "MariaDB" in database["details"]["version"]


MICRONAUT_ENDPOINTS = ("beans", "caches", "env", "flyway", "info", "liquibase", "loggers",
                       "refresh", "routes", "stop", "threaddump")


def test_micronaut_endpoint_switches_copied_from_the_seed_load_and_served_ones_apply():
    """Seed 2.2.2.1's `endpoints: info: sensitive: false` (and the other Micronaut endpoints)
    load; dmf does not serve them, while the switches of the endpoints it serves still act."""
    copied = {name: {"enabled": True, "sensitive": False} for name in MICRONAUT_ENDPOINTS}
    app, _ = make_app({**copied, "metrics": {"sensitive": False},
                       "prometheus": {"enabled": False}})
    with live_server(app) as url:
        assert HTTP.get(f"{url}/metrics").status_code == 200
        assert HTTP.get(f"{url}/prometheus", auth=ADMIN).status_code == 404
        assert HTTP.get(f"{url}/info", auth=ADMIN).status_code == 404
        assert HTTP.get(f"{url}/health").json() == {"status": "UP"}
