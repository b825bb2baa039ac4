"""`/health` indicators in Micronaut's shape: the database (`jdbc`), `diskSpace` and `service`.

Checks run when asked (a scrape is rare and each check is cheap), and a failing check makes its
indicator DOWN with the error's class, never its message, which could hold a connection string.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from dmf.service.http_settings import HealthSettings

UP = "UP"
DOWN = "DOWN"

_VERSION_QUERY = {
    "sqlite": "select sqlite_version()",
    "postgresql": "show server_version",
    "mysql": "select version()",
    "mariadb": "select version()",
}


def public_url(engine: Engine) -> str:
    """The database URL as it may be shown: no password, not even masked."""
    # URL.set(password=None) means "leave unchanged"; the namedtuple replace really drops it.
    return engine.url._replace(password=None).render_as_string(hide_password=False)


def product_name(engine: Engine) -> str:
    dialect = engine.dialect
    if dialect.name in ("mysql", "mariadb"):
        return "MariaDB" if getattr(dialect, "is_mariadb", False) else "MySQL"
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(dialect.name, dialect.name)


def database_indicator(name: str, engine: Engine) -> dict[str, Any]:
    url = public_url(engine)
    try:
        with engine.connect() as connection:
            query = _VERSION_QUERY.get(engine.dialect.name, "select 1")
            version = str(connection.execute(text(query)).scalar_one())
    except Exception as exc:  # any failure means DOWN; the class says enough
        detail: dict[str, Any] = {"name": name, "status": DOWN,
                                  "details": {"error": type(exc).__name__}}
    else:
        detail = {"name": name, "status": UP,
                  "details": {"database": product_name(engine), "version": version}}
    return {"name": name, "status": detail["status"], "details": {url: detail}}


def disk_space_indicator(name: str, path: str, threshold: int) -> dict[str, Any]:
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return {"name": name, "status": DOWN,
                "details": {"path": path, "error": type(exc).__name__}}
    return {"name": name, "status": UP if usage.free >= threshold else DOWN,
            "details": {"total": usage.total, "free": usage.free, "threshold": threshold,
                        "path": path}}


@dataclass(frozen=True, slots=True)
class HealthProbe:
    """What a service reports on: its name, its database engine (if any) and whether it runs.

    `service_up` lets the worker report DOWN while it shuts down, so a load balancer stops
    sending it work before it is gone.
    """

    application: str
    settings: HealthSettings
    engine: Engine | None = None
    service_up: Callable[[], bool] = lambda: True

    def indicators(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        if self.engine is not None and self.settings.jdbc.enabled:
            found["jdbc"] = database_indicator(self.application, self.engine)
        if self.settings.disk_space.enabled:
            found["diskSpace"] = disk_space_indicator(self.application,
                                                      self.settings.disk_space.path,
                                                      self.settings.disk_space.threshold)
        found["service"] = {"name": self.application,
                            "status": UP if self.service_up() else DOWN}
        return found

    def report(self, with_details: bool) -> dict[str, Any]:
        indicators = self.indicators()
        status = UP if all(i["status"] == UP for i in indicators.values()) else DOWN
        if not with_details:
            return {"status": status}
        return {"name": self.application, "status": status, "details": indicators}
