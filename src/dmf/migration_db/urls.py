"""Turn `datasources.default.url` (+ username / password) into a SQLAlchemy URL.

Accepted forms: any SQLAlchemy URL (`sqlite:///path`, `postgresql+psycopg://...`,
`mysql+pymysql://...`, `mariadb+pymysql://...`; a bare `postgresql://` or `mysql://` /
`mariadb://` gets dmf's driver), and the seed's JDBC forms `jdbc:mysql://host:port/db?...`,
`jdbc:mariadb://...`, `jdbc:postgresql://...`. JDBC query parameters are Java driver options and
are dropped, except `createDatabaseIfNotExist=true`, which dmf honours when it opens the engine.
The password is held only inside the URL object, whose repr and str show `***`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from dmf.errors import ConfigError

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
_SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


@dataclass(frozen=True)
class DatabaseUrl:
    """Where the migration database is, and whether to create the database when it is missing."""

    url: URL
    create_if_missing: bool = False


def database_url(url: str, username: str | None = None,
                 password: str | None = None) -> DatabaseUrl:
    """Parse a configured URL; `username` / `password` (when given) replace the URL's own.

    Raises ConfigError naming what is wrong, never echoing the password.
    """
    text = url.strip()
    if not text:
        raise ConfigError("datasources.default.url is empty")
    if text.startswith("jdbc:"):
        parsed, create = _from_jdbc(text[len("jdbc:"):])
    else:
        parsed, create = _from_sqlalchemy(text), False
    if parsed.get_backend_name() != "sqlite":
        if username is not None:
            parsed = parsed.set(username=username)
        if password is not None:
            parsed = parsed.set(password=password)
    return DatabaseUrl(parsed, create)


def _from_sqlalchemy(text: str) -> URL:
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ConfigError(
            f"datasources.default.url is not a database URL: {_scheme_of(text)!r}..."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED_BACKENDS:
        raise ConfigError(f"datasources.default.url: unsupported database {backend!r}")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_DRIVERS.get(backend, backend))
    if backend == "sqlite" and not parsed.database:
        raise ConfigError("datasources.default.url: sqlite needs a file path (sqlite:///path)")
    return parsed


def _from_jdbc(text: str) -> tuple[URL, bool]:
    scheme = _scheme_of(text)
    if scheme not in _DEFAULT_PORTS:
        raise ConfigError(f"datasources.default.url: unsupported JDBC database {scheme!r}")
    parts = urlsplit(text)
    database = parts.path.lstrip("/")
    if not parts.hostname or not database:
        raise ConfigError("datasources.default.url: a JDBC URL needs a host and a database name")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise ConfigError("datasources.default.url: the port is not a number") from None
    options = {key.lower(): value for key, value in parse_qsl(parts.query)}
    create = options.get("createdatabaseifnotexist", "").lower() == "true"
    parsed = URL.create(
        _DRIVERS[scheme],
        username=parts.username,
        password=parts.password,
        host=parts.hostname,
        port=port,
        database=database,
    )
    return parsed, create


def _scheme_of(text: str) -> str:
    return text.split(":", 1)[0].lower()
