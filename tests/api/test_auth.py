"""Security acceptance: wrong or missing basic auth gets 401 on everything but anonymous
health; a client outside the IP patterns gets 403."""

from __future__ import annotations

import re

import httpx
import pytest

from dmf.migration_db.repository import MigrationRepository
from tests.api.conftest import ADMIN, running_scheduler

WRONG = [None, ("admin", "wrong"), ("nobody", ADMIN[1]), (ADMIN[0], ADMIN[1] + "x")]


def every_operation(url: str) -> list[tuple[str, str]]:
    document = httpx.get(f"{url}/openapi.json", auth=ADMIN).json()
    operations = [(method.upper(), re.sub(r"\{[^}]+\}", "1", path))
                  for path, item in document["paths"].items() for method in item]
    return [*operations, ("GET", "/openapi.json"), ("GET", "/docs")]


@pytest.mark.parametrize("auth", WRONG, ids=["missing", "wrong-password", "wrong-user",
                                             "password-prefix"])
def test_every_route_but_anonymous_health_refuses_wrong_credentials(sqlite_scheduler, auth):
    operations = every_operation(sqlite_scheduler.url)
    assert len(operations) >= 20
    with httpx.Client(auth=auth) as client:
        for method, path in operations:
            response = client.request(method, sqlite_scheduler.url + path)
            if path == "/health" and auth is None:
                assert response.status_code == 200
                assert response.json() == {"status": "UP"}
                continue
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == 'Basic realm="dmf"'


def test_openapi_document_and_docs_are_served_to_the_admin(sqlite_scheduler):
    document = httpx.get(f"{sqlite_scheduler.url}/openapi.json", auth=ADMIN).json()
    assert "/dmf/admin/api/v2/targets/{target}/backends/{name}" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBasic"]["scheme"] == "basic"
    docs = httpx.get(f"{sqlite_scheduler.url}/docs", auth=ADMIN)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.parametrize(("patterns", "allowed"), [(["192.168.1.*"], False),
                                                   (["10.0.0.0/8", "::1"], False),
                                                   (["127.0.0.1"], True),
                                                   (["192.168.1.*", "127.0.0.0/8"], True)])
def test_ip_patterns_guard_the_admin_api(tmp_path, patterns, allowed):
    repository = MigrationRepository.connect(f"sqlite:///{tmp_path / 'migration.db'}")
    repository.upgrade()
    overrides = {"micronaut": {"security": {"enabled": True, "ip-patterns": patterns}}}
    try:
        with running_scheduler(repository, tmp_path, **overrides) as scheduler:
            targets = httpx.get(f"{scheduler.api}/targets", auth=ADMIN)
            health = httpx.get(f"{scheduler.url}/health")
    finally:
        repository.close()
    assert targets.status_code == (200 if allowed else 403)
    assert health.status_code == (200 if allowed else 403)
