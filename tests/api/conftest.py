"""A real scheduler for the API tests: `create_app` on a real migration database, served by
uvicorn on a free 127.0.0.1 port and spoken to over HTTP."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from dmf.api.app import create_app
from dmf.migration_db.repository import MigrationRepository
from dmf.service.scheduler_config import SchedulerConfig
from tests.service.live_server import live_server

ADMIN = ("admin", "adm1n:pass")
_names = itertools.count(1)
KEY_NAME = "key1"


@dataclass(frozen=True)
class Scheduler:
    url: str
    api: str
    repository: MigrationRepository
    key: bytes
    http: httpx.Client  # authenticated as the admin, base URL the API root

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path.lstrip("/"), **kwargs)


def scheduler_config(key_file: Path, **overrides: Any) -> SchedulerConfig:
    document: dict[str, Any] = {
        "http": {"admin": {"username": ADMIN[0], "password": ADMIN[1]}},
        "dmf": {"scheduler": {"crypto": {"key-name": KEY_NAME, "file": str(key_file)}}},
        **overrides,
    }
    return SchedulerConfig.model_validate(document)


def write_key(directory: Path) -> tuple[Path, bytes]:
    key = os.urandom(32)
    path = directory / f"{KEY_NAME}.key"
    path.write_text(base64.b64encode(key).decode() + "\n")
    return path, key


@contextmanager
def running_scheduler(repository: MigrationRepository, directory: Path,
                      **overrides: Any) -> Iterator[Scheduler]:
    key_file, key = write_key(directory)
    app = create_app(scheduler_config(key_file, **overrides), repository, CollectorRegistry())
    # One client per server: building an httpx client (its TLS context) costs ~40 ms.
    with live_server(app) as url, httpx.Client(auth=ADMIN,
                                               base_url=f"{url}/dmf/admin/api/v2/") as http:
        yield Scheduler(url, f"{url}/dmf/admin/api/v2", repository, key, http)


@pytest.fixture(scope="module", params=[
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.databases),
    pytest.param("mariadb", marks=pytest.mark.databases),
])
def scheduler(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduler]:
    """One scheduler per module on each of SQLite, PostgreSQL and MariaDB (a schema upgrade
    per test would cost a second each): tests share it, so each uses names of its own
    (see `fresh`)."""
    directory = tmp_path_factory.mktemp("scheduler")
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'migration.db'}"
    else:
        server_fixture = "postgres_server" if request.param == "postgresql" \
            else "mariadb_server"
        url = request.getfixturevalue(server_fixture).new_database()
    repository = MigrationRepository.connect(url)
    repository.upgrade()
    try:
        with running_scheduler(repository, directory) as running:
            yield running
    finally:
        repository.close()


@pytest.fixture
def fresh() -> str:
    """A name no other test of a shared scheduler uses."""
    return f"t{next(_names)}"


@pytest.fixture
def sqlite_scheduler(tmp_path: Path) -> Iterator[Scheduler]:
    """For what does not depend on the database: SQLite only."""
    repository = MigrationRepository.connect(f"sqlite:///{tmp_path / 'migration.db'}")
    repository.upgrade()
    try:
        with running_scheduler(repository, tmp_path) as running:
            yield running
    finally:
        repository.close()
