"""datasources.default.url in its SQLAlchemy and JDBC forms."""

from __future__ import annotations

import pytest

from dmf.errors import ConfigError
from dmf.migration_db.urls import database_url

SECRET = "s3cr3t'\"@:/?#pw"


@pytest.mark.parametrize(("given", "driver", "host", "port", "database", "create"), [
    ("jdbc:mysql://dmf-db:3306/migration", "mysql+pymysql", "dmf-db", 3306, "migration", False),
    ("jdbc:mariadb://db/migration?createDatabaseIfNotExist=true&useSSL=false",
     "mariadb+pymysql", "db", 3306, "migration", True),
    ("jdbc:postgresql://pg.example:6543/dmf?createDatabaseIfNotExist=TRUE",
     "postgresql+psycopg", "pg.example", 6543, "dmf", True),
    ("jdbc:postgresql://pg/dmf", "postgresql+psycopg", "pg", 5432, "dmf", False),
    ("postgresql://pg/dmf", "postgresql+psycopg", "pg", None, "dmf", False),
    ("mysql://db/dmf", "mysql+pymysql", "db", None, "dmf", False),
    ("postgresql+psycopg://u@pg:5/dmf", "postgresql+psycopg", "pg", 5, "dmf", False),
])
def test_forms(given: str, driver: str, host: str, port: int | None, database: str,
               create: bool) -> None:
    parsed = database_url(given, "worker", SECRET)
    assert (parsed.url.drivername, parsed.url.host, parsed.url.port, parsed.url.database,
            parsed.create_if_missing) == (driver, host, port, database, create)
    assert (parsed.url.username, parsed.url.password) == ("worker", SECRET)
    assert parsed.url.query == {}  # JDBC driver options never reach the Python driver


def test_credentials_in_the_url_are_kept_unless_given() -> None:
    parsed = database_url("postgresql://alice:pw@pg/dmf", None, None)
    assert (parsed.url.username, parsed.url.password) == ("alice", "pw")


def test_sqlite_path() -> None:
    parsed = database_url("sqlite:////var/lib/dmf/migration.db", "ignored", "ignored")
    assert (parsed.url.drivername, parsed.url.database) == ("sqlite",
                                                           "/var/lib/dmf/migration.db")


def test_password_never_shown() -> None:
    parsed = database_url("jdbc:mysql://db/dmf", "worker", SECRET)
    assert SECRET not in repr(parsed)
    assert SECRET not in str(parsed.url)


@pytest.mark.parametrize(("given", "message"), [
    ("", "empty"),
    ("jdbc:oracle:thin:@db:1521/x", "unsupported JDBC database 'oracle'"),
    ("jdbc:mysql://db", "host and a database"),
    ("jdbc:mysql://db:port/x", "port"),
    ("mssql+pyodbc://db/x", "unsupported database 'mssql'"),
    ("sqlite://", "file path"),
    ("not a url", "not a database URL"),
])
def test_bad_urls_name_the_problem(given: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        database_url(given, "u", SECRET)
    assert SECRET not in str(raised.value)
