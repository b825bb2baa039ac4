"""The built-in endpoints every dmf service serves: `/health`, `/metrics`, `/metrics/{name}` and
`/prometheus`, switched and guarded by the seed's `endpoints.*` keys.

A disabled endpoint has no route (404, as in Micronaut). A sensitive one needs the admin's
credentials; health is the exception that answers anonymous callers with its status alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dmf.service.auth import CallerAuthenticated, unauthorized
from dmf.service.context import ServiceContext, ServiceContextDep
from dmf.service.health import UP, HealthProbe
from dmf.service.http_settings import DetailsVisible, EndpointsSettings, ServiceHttpSettings
from dmf.service.ip_filter import IpFilterMiddleware
from dmf.service.metrics_view import metric_detail, metric_names, parse_tags


def _guard(endpoints: EndpointsSettings, name: str) -> Callable[[bool], None]:
    sensitive = endpoints.sensitive(name)

    def guard(authenticated: CallerAuthenticated) -> None:
        if sensitive and not authenticated:
            raise unauthorized()

    return guard


def service_router(endpoints: EndpointsSettings) -> APIRouter:
    """Only the enabled endpoints get routes."""
    router = APIRouter(tags=["service"])

    if endpoints.enabled("health"):
        @router.get("/health", dependencies=[Depends(_guard(endpoints, "health"))])
        def health(service: ServiceContextDep, authenticated: CallerAuthenticated) -> JSONResponse:
            visible = service.health.settings.details_visible
            with_details = (visible is DetailsVisible.ANONYMOUS
                            or (visible is DetailsVisible.AUTHENTICATED and authenticated))
            report = service.health.report(with_details)
            code = status.HTTP_200_OK if report["status"] == UP \
                else status.HTTP_503_SERVICE_UNAVAILABLE
            return JSONResponse(report, status_code=code)

    if endpoints.enabled("metrics"):
        metrics_guard = [Depends(_guard(endpoints, "metrics"))]

        @router.get("/metrics", dependencies=metrics_guard)
        def metrics(service: ServiceContextDep) -> dict[str, list[str]]:
            return {"names": metric_names(service.registry)}

        @router.get("/metrics/{name}", dependencies=metrics_guard,
                    responses={404: {"description": "No metric of that name"}})
        def metric(service: ServiceContextDep, name: str,
                   tag: Annotated[list[str], Query()] = []) -> dict[str, Any]:  # noqa: B006
            try:
                tags = parse_tags(tag)
            except ValueError as exc:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
            detail = metric_detail(service.registry, name, tags)
            if detail is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no metric named {name!r}")
            return detail

    if endpoints.enabled("prometheus"):
        @router.get("/prometheus", dependencies=[Depends(_guard(endpoints, "prometheus"))],
                    response_class=Response,
                    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
        def prometheus(service: ServiceContextDep) -> Response:
            return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def install_service(app: FastAPI, http: ServiceHttpSettings, registry: CollectorRegistry,
                    health: HealthProbe) -> None:
    """Mount the endpoints on `app` and protect the whole app with the IP allow list.

    Call once, while building the app (middleware cannot be added after it starts). The app's
    own routes guard themselves with `dmf.service.auth.AdminRequired`, which reads the same
    settings from the context stored here.
    """
    app.state.dmf_service = ServiceContext(http=http, registry=registry, health=health)
    if http.security.enabled and http.security.ip_patterns:
        app.add_middleware(IpFilterMiddleware, patterns=http.security.parsed_ip_patterns)
    app.include_router(service_router(http.endpoints))

