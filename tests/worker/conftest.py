"""Fixtures shared by the worker tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmf.migration_db.repository import MigrationRepository


@pytest.fixture
def repository(tmp_path) -> Iterator[MigrationRepository]:
    """A fresh SQLite migration database holding target `t` and source `default`: the queue a
    `WorkerProcess` (identity target `t`, sources `default`) serves."""
    repository = MigrationRepository.connect(f"sqlite:///{tmp_path / 'migration.db'}")
    repository.upgrade()
    repository.create_target("t")
    repository.create_source("default")
    yield repository
    repository.close()
