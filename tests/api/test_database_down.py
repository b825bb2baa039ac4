"""With the migration database unreachable the API answers 503 (a temporary failure the CLI
maps to exit 75), health says DOWN, and the database password shows nowhere."""

from __future__ import annotations

import logging

from dmf.migration_db.repository import MigrationRepository
from tests.api.conftest import running_scheduler

DB_PASSWORD = "db-Secret-pw"


def test_unreachable_database_gives_503_without_leaking(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    repository = MigrationRepository.connect(
        f"postgresql+psycopg://dmf:{DB_PASSWORD}@127.0.0.1:1/migration")
    try:
        with running_scheduler(repository, tmp_path) as scheduler:
            responses = [scheduler.call("GET", "/targets"),
                         scheduler.call("POST", "/jobs", json={"source": "s", "uid": "u"}),
                         scheduler.call("PATCH", "/targets/t/backends",
                                        json={"name": "t/1", "command": "STOP"}),
                         scheduler.http.get(f"{scheduler.url}/health")]
    finally:
        repository.close()
    assert [r.status_code for r in responses] == [503, 503, 503, 503]
    assert "unavailable" in responses[0].json()["detail"]
    for response in responses:
        assert DB_PASSWORD not in response.text
    for record in caplog.records:
        assert DB_PASSWORD not in record.getMessage()
