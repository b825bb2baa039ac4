"""What the service endpoints need from the app that mounts them, kept on `app.state` by
`dmf.service.endpoints.install_service` and read back through one dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry

from dmf.service.health import HealthProbe
from dmf.service.http_settings import ServiceHttpSettings


@dataclass(frozen=True, slots=True)
class ServiceContext:
    http: ServiceHttpSettings
    registry: CollectorRegistry
    health: HealthProbe


def service_context(request: Request) -> ServiceContext:
    return request.app.state.dmf_service


ServiceContextDep = Annotated[ServiceContext, Depends(service_context)]
