"""The scheduler's admin API, built by `create_app`: nothing is created at import time, so each
call (each test) gets its own repository, registry and settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from prometheus_client import CollectorRegistry

from dmf.api.errors import ERROR_RESPONSES, install_error_handlers
from dmf.api.password_wrapping import load_password_wrapper
from dmf.api.paths import PREFIX
from dmf.api.routes import backends, catalogue, jobs
from dmf.migration_db.repository import MigrationRepository
from dmf.service.auth import AdminRequired
from dmf.service.endpoints import install_service
from dmf.service.health import HealthProbe
from dmf.service.metrics import watch_connection_pool
from dmf.service.scheduler_config import SchedulerConfig

APPLICATION = "scheduler"


def admin_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, dependencies=[AdminRequired], responses=ERROR_RESPONSES)
    for module in (catalogue, backends, jobs):
        router.include_router(module.router)
    return router


def create_app(settings: SchedulerConfig, repository: MigrationRepository,
               registry: CollectorRegistry) -> FastAPI:
    """The admin API under /dmf/admin/api/v2, the service endpoints, and the OpenAPI document
    at /openapi.json with its browser view at /docs (both behind the admin's credentials, like
    everything but anonymous /health). Raises ConfigError for an unusable wrapping key."""
    app = FastAPI(title="dmf scheduler admin API", version="2",
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.repository = repository
    app.state.password_wrapper = load_password_wrapper(settings.dmf.scheduler.crypto)
    install_error_handlers(app)
    watch_connection_pool(registry, repository.engine.pool)
    install_service(app, settings.service_http(), registry,
                    HealthProbe(APPLICATION, settings.endpoints.health, repository.engine))
    app.include_router(admin_router())

    @app.get("/openapi.json", include_in_schema=False, dependencies=[AdminRequired])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=[AdminRequired])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    return app
