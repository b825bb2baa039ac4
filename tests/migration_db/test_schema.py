"""The Alembic migrations build exactly the schema models.py declares, on every database, and
several workers may run them at once."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, inspect

from dmf.migration_db.models import CLAIM_ORDER_INDEX, Base, autogenerate_filter
from dmf.migration_db.repository import MigrationRepository


def _drift(conn: Connection) -> list[object]:
    """Alembic's diff of database and models (the claim-order index's sort order is checked
    apart where it cannot be reflected: see models.autogenerate_filter)."""
    context = MigrationContext.configure(conn, opts={
        "compare_type": True, "include_object": autogenerate_filter(conn.dialect.name)})
    return compare_metadata(context, Base.metadata)


def test_migrations_match_models(migration_repository: MigrationRepository) -> None:
    with migration_repository.engine.connect() as conn:
        assert _drift(conn) == []
        (claim_index,) = [index for index in inspect(conn).get_indexes("jobs")
                          if index["name"] == CLAIM_ORDER_INDEX]
        assert [name for name in claim_index["column_names"] if name] in (
            ["target", "status", "priority", "submitted", "id"],  # MariaDB, SQLite
            ["target", "status", "submitted", "id"],  # PostgreSQL lists the expression apart
        )


def test_schema_has_the_named_constraints(migration_repository: MigrationRepository) -> None:
    inspector = inspect(migration_repository.engine)
    assert set(inspector.get_table_names()) >= {"targets", "sources", "source_hosts", "backends",
                                                "jobs", "running_users", "alembic_version"}
    assert inspector.get_pk_constraint("running_users")["constrained_columns"] == ["target",
                                                                                  "uid"]
    index_names = {index["name"] for index in inspector.get_indexes("jobs")}
    assert CLAIM_ORDER_INDEX in index_names


def _upgrade(url: str) -> None:
    repository = MigrationRepository.connect(url)
    try:
        repository.upgrade()
    finally:
        repository.close()


def test_concurrent_upgrades_from_several_processes(db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        for future in [pool.submit(_upgrade, db_url) for _ in range(4)]:
            future.result(timeout=120)  # re-raises a worker's exception here
    repository = MigrationRepository.connect(db_url)
    try:
        with repository.engine.connect() as conn:
            assert _drift(conn) == []
    finally:
        repository.close()


def test_an_upgrade_waits_until_the_other_one_committed(db_url: str) -> None:
    """The migration lock must outlive the first upgrade's commit: a second worker let in
    between would find no committed version row and run the migration again over the tables
    (MariaDB's DDL commits at once; only the version row waits for the commit)."""
    first, second = MigrationRepository.connect(db_url), MigrationRepository.connect(db_url)
    committing = threading.Event()

    @event.listens_for(first.engine, "commit")
    def _slow_commit(_conn: Connection) -> None:  # widen the window a racing worker needs
        committing.set()
        time.sleep(0.5)

    try:
        with ThreadPoolExecutor(2) as pool:
            upgrading = pool.submit(first.upgrade)
            assert committing.wait(60), upgrading.exception(0)
            pool.submit(second.upgrade).result(timeout=60)
            upgrading.result(timeout=60)
        with second.engine.connect() as conn:
            assert _drift(conn) == []
    finally:
        first.close()
        second.close()
