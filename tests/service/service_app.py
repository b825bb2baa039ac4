"""An app carrying only the service endpoints, configured as a test needs."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from dmf.service.endpoints import install_service
from dmf.service.health import HealthProbe
from dmf.service.http_settings import (
    AdminCredentials,
    EndpointsSettings,
    SecuritySettings,
    ServiceHttpSettings,
    SslSettings,
)
from dmf.service.metrics import ServiceMetrics

ADMIN = ("admin", "s3cret:pw")
# One client for all plain-HTTP tests: building one (its TLS context) costs ~40 ms.
HTTP = httpx.Client()


def make_app(endpoints: dict[str, Any] | None = None, security: dict[str, Any] | None = None,
             engine: Any = None, service_up: bool = True) -> tuple[FastAPI, ServiceMetrics]:
    settings = EndpointsSettings.model_validate(endpoints or {})
    http = ServiceHttpSettings(
        ssl=SslSettings(), security=SecuritySettings.model_validate(security or {}),
        endpoints=settings,
        admin=AdminCredentials.model_validate({"username": ADMIN[0], "password": ADMIN[1]}))
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    app = FastAPI()
    install_service(app, http, registry,
                    HealthProbe("worker", settings.health, engine, lambda: service_up))
    return app, metrics
