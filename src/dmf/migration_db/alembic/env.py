"""Alembic environment: runs on the connection MigrationRepository.upgrade hands over (already
inside its transaction and migration lock), or on `-x url=...` from the alembic command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from dmf.migration_db.engine import open_engine
from dmf.migration_db.models import Base, autogenerate_filter
from dmf.migration_db.urls import database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=autogenerate_filter(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with -x url=<SQLAlchemy or JDBC URL>")
    engine = open_engine(database_url(url))
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


_main()
