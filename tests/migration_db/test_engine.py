"""Opening engines: createDatabaseIfNotExist, SQLite settings, clear connection errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from dmf.errors import ConfigError, TemporaryError
from dmf.migration_db.engine import open_engine
from dmf.migration_db.repository import MigrationRepository
from dmf.migration_db.urls import database_url
from tests.fixtures.databases import DB_PASSWORD, DB_USER, DatabaseServer, free_port


@pytest.mark.databases
@pytest.mark.parametrize("server_fixture", ["postgres_server", "mariadb_server"])
def test_create_database_if_not_exist(server_fixture: str,
                                      request: pytest.FixtureRequest) -> None:
    server: DatabaseServer = request.getfixturevalue(server_fixture)
    scheme = "postgresql" if server.kind == "postgresql" else "mysql"
    name = f"created_{server_fixture}"
    jdbc = f"jdbc:{scheme}://127.0.0.1:{server.port}/{name}?createDatabaseIfNotExist=true"
    for _ in range(2):  # the second start finds it there
        repository = MigrationRepository.connect(jdbc, DB_USER, DB_PASSWORD)
        try:
            repository.upgrade()
            repository.create_target(f"t{_}")
        finally:
            repository.close()
    without = f"jdbc:{scheme}://127.0.0.1:{server.port}/missing_{server_fixture}"
    repository = MigrationRepository.connect(without, DB_USER, DB_PASSWORD)
    try:
        with pytest.raises(TemporaryError, match="cannot connect") as raised:
            repository.upgrade()
        assert DB_PASSWORD not in str(raised.value)
    finally:
        repository.close()


@pytest.mark.databases
def test_wrong_password_is_a_clear_error(postgres_server: DatabaseServer) -> None:
    url = f"jdbc:postgresql://127.0.0.1:{postgres_server.port}/{DB_USER}"
    repository = MigrationRepository.connect(url, DB_USER, "wrong-pw-123")
    try:
        with pytest.raises(TemporaryError, match="password authentication failed") as raised:
            repository.upgrade()
        assert "wrong-pw-123" not in str(raised.value)
    finally:
        repository.close()


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = open_engine(database_url(f"sqlite:///{tmp_path / 'm.db'}"))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        open_engine(database_url(f"sqlite:///{tmp_path / 'nope' / 'm.db'}"))


def test_create_database_refuses_odd_names() -> None:
    with pytest.raises(ConfigError, match="refusing"):
        open_engine(database_url("jdbc:mysql://127.0.0.1:1/a`b?createDatabaseIfNotExist=true"))


def test_unreachable_database_is_a_temporary_error() -> None:
    repository = MigrationRepository.connect(
        f"postgresql://dmf:hidden-pw@127.0.0.1:{free_port()}/dmf")
    try:
        with pytest.raises(TemporaryError, match="migration database unavailable") as raised:
            repository.list_targets()
        assert "hidden-pw" not in str(raised.value)
    finally:
        repository.close()


def test_sqlite_reads_run_beside_a_writer(tmp_path: Path) -> None:
    """Readers (API listings, cache refreshes) do not queue behind a write transaction."""
    repository = MigrationRepository.connect(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        repository.upgrade()
        repository.create_target("before")
        with repository.engine.begin() as writer:  # holds SQLite's write lock
            writer.execute(text("INSERT INTO sources (name, created) VALUES ('s', '2026-01-01')"))
            started = time.monotonic()
            assert [t.name for t in repository.list_targets()] == ["before"]
            assert repository.peek_queued("before", ["s"], 5) == []
            assert time.monotonic() - started < 2
    finally:
        repository.close()
