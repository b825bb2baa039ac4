"""Open a SQLAlchemy engine tuned for the queue on each supported database.

- SQLite: WAL journal, a 30 s busy timeout, foreign keys on, and every transaction opened with
  `BEGIN IMMEDIATE`, so a claim's read and write happen under one write lock and two writers
  never deadlock upgrading a shared lock; connections carrying the `READ_ONLY_OPTION`
  execution option begin a plain (deferred) read transaction, which WAL lets run beside a writer.
- MariaDB: READ COMMITTED (fewer gap locks between concurrent claims), version >= 10.6 required
  for `SKIP LOCKED`.
- PostgreSQL: the default READ COMMITTED.
`createDatabaseIfNotExist=true` creates the database first (races between workers are fine).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.pool import NullPool

from dmf.errors import ConfigError, TemporaryError
from dmf.migration_db.urls import DatabaseUrl

MIN_MARIADB = (10, 6)
MIN_MYSQL = (8, 0, 1)
SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_RECYCLE_SECONDS = 1800
READ_ONLY_OPTION = "dmf_read_only"


def open_engine(database: DatabaseUrl, *, pool_size: int = 5) -> Engine:
    """An engine for the migration database; creates the database when asked to."""
    url = database.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if database.create_if_missing:
        _create_database(url)
    # No pool_pre_ping: it costs a round trip per transaction. A connection the server dropped
    # fails one call (a TemporaryError to the caller), is discarded, and the next call reconnects.
    options: dict[str, Any] = {"pool_recycle": POOL_RECYCLE_SECONDS, "pool_size": pool_size}
    if backend in ("mysql", "mariadb"):
        options["isolation_level"] = "READ COMMITTED"
        options["connect_args"] = {"charset": "utf8mb4"}
    return create_engine(url, **options)


def check_server(engine: Engine) -> None:
    """Fail at start, naming the version, on a server the queue's locking cannot work with."""
    dialect = engine.dialect
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        raise TemporaryError(
            f"cannot connect to the migration database: {_first_line(error.orig)}"
        ) from None
    version = dialect.server_version_info or ()
    if dialect.name in ("mysql", "mariadb"):
        if getattr(dialect, "is_mariadb", False):
            if version < MIN_MARIADB:
                raise ConfigError(
                    f"MariaDB {_dotted(version)} lacks SKIP LOCKED: dmf needs 10.6 or newer"
                )
        elif version < MIN_MYSQL:
            raise ConfigError(f"MySQL {_dotted(version)} lacks SKIP LOCKED: dmf needs 8.0.1+")


def _sqlite_engine(url: URL) -> Engine:
    path = url.database or ""
    if path != ":memory:" and not Path(path).parent.is_dir():
        raise ConfigError(f"sqlite database directory does not exist: {Path(path).parent}")
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _create_database(url: URL) -> None:
    name = url.database or ""
    if not re.fullmatch(r"[A-Za-z0-9_$-]{1,64}", name):
        raise ConfigError(
            f"createDatabaseIfNotExist: refusing to create a database named {name!r}"
        )
    backend = url.get_backend_name()
    server = URL.create(url.drivername, url.username, url.password, url.host, url.port,
                        "postgres" if backend == "postgresql" else None)
    engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                ).first()
                if not exists:
                    # another worker may create it between our check and our CREATE
                    with contextlib.suppress(ProgrammingError):
                        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            else:
                conn.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"
                )
    except DBAPIError as error:
        raise TemporaryError(
            f"cannot create the migration database {name!r}: {_first_line(error.orig)}"
        ) from None
    finally:
        engine.dispose()


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _dotted(version: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in version)
