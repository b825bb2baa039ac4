"""Configuration of the HTTP surface that the worker and the scheduler share.

These models are composed into the worker's `dmf-worker.yml` model (`micronaut.ssl`,
`micronaut.security`, `endpoints`, `http.admin`) and into the scheduler's configuration, so both
services read the same keys the seed documents. Defaults follow Micronaut's where the seed is
silent: TLS off, security on, every endpoint enabled and sensitive except `/health`, whose
status (never its details) answers anonymous callers as the seed's section 4.1 shows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import Field, SecretStr, field_validator

from dmf.service.config_model import ConfigModel
from dmf.service.ip_filter import IpPattern, parse_ip_pattern


class KeyStoreType(enum.StrEnum):
    PKCS12 = "PKCS12"
    # One PEM file holding the private key and the certificate chain (trustme, certbot's
    # privkey+fullchain concatenated): the form most tools outside Java produce.
    PEM = "PEM"


class KeyStoreSettings(ConfigModel):
    """`micronaut.ssl.key-store`: `path` is `file:/...` (the seed's form) or a plain path."""

    path: str | None = None
    type: KeyStoreType = KeyStoreType.PKCS12
    password: SecretStr | None = None

    @property
    def file_path(self) -> str | None:
        if self.path is None:
            return None
        return self.path.removeprefix("file:")


class SslSettings(ConfigModel):
    """`micronaut.ssl`."""

    enabled: bool = False
    key_store: KeyStoreSettings = Field(default_factory=KeyStoreSettings, alias="key-store")
    port: int = Field(default=8443, ge=1, le=65535)


class SecuritySettings(ConfigModel):
    """`micronaut.security`: `enabled: false` turns off both basic auth and the IP filter."""

    enabled: bool = True
    ip_patterns: tuple[str, ...] = Field(default=(), alias="ip-patterns")

    @field_validator("ip_patterns", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return () if value is None else value

    @field_validator("ip_patterns")
    @classmethod
    def _patterns_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            parse_ip_pattern(pattern)
        return value

    @property
    def parsed_ip_patterns(self) -> tuple[IpPattern, ...]:
        return tuple(parse_ip_pattern(p) for p in self.ip_patterns)


class EndpointSwitch(ConfigModel):
    """`endpoints.<name>.enabled/sensitive`; None inherits from `endpoints.all`."""

    enabled: bool | None = None
    sensitive: bool | None = None


class DetailsVisible(enum.StrEnum):
    AUTHENTICATED = "AUTHENTICATED"
    ANONYMOUS = "ANONYMOUS"
    NEVER = "NEVER"


class DiskSpaceSettings(ConfigModel):
    """`endpoints.health.disk-space`: DOWN when `path`'s file system has under `threshold` bytes."""

    enabled: bool = True
    path: str = "."
    threshold: int = Field(default=10 * 1024 * 1024, ge=0)


class JdbcHealthSettings(ConfigModel):
    """`endpoints.health.jdbc`."""

    enabled: bool = True


class HealthSettings(ConfigModel):
    """`endpoints.health`: unlike the others, not sensitive unless configured so."""

    enabled: bool | None = None
    sensitive: bool = False
    details_visible: DetailsVisible = Field(default=DetailsVisible.AUTHENTICATED,
                                            alias="details-visible")
    disk_space: DiskSpaceSettings = Field(default_factory=DiskSpaceSettings, alias="disk-space")
    jdbc: JdbcHealthSettings = Field(default_factory=JdbcHealthSettings)


class AllEndpoints(ConfigModel):
    enabled: bool = True
    sensitive: bool = True


class LoggersSwitch(EndpointSwitch):
    """`endpoints.loggers`: Micronaut's one endpoint with a third switch (changing a level)."""

    write_sensitive: bool | None = Field(default=None, alias="write-sensitive")


class EndpointsSettings(ConfigModel):
    """`endpoints`: switches of the built-in endpoints.

    dmf serves `health`, `metrics` and `prometheus`; their switches apply. The other Micronaut
    built-in endpoints are accepted with their switches so that a configuration copied from the
    seed (`endpoints: info: sensitive: false`, section 2.2.2.1) or from another Micronaut service
    loads; dmf serves no such endpoint, so their switches change nothing. An unknown key inside
    any endpoint, or an endpoint name Micronaut does not know, is still an error naming it."""

    all: AllEndpoints = Field(default_factory=AllEndpoints)
    health: HealthSettings = Field(default_factory=HealthSettings)
    metrics: EndpointSwitch = Field(default_factory=EndpointSwitch)
    prometheus: EndpointSwitch = Field(default_factory=EndpointSwitch)
    # Micronaut's other built-in endpoints: accepted, not served
    beans: EndpointSwitch = Field(default_factory=EndpointSwitch)
    caches: EndpointSwitch = Field(default_factory=EndpointSwitch)
    env: EndpointSwitch = Field(default_factory=EndpointSwitch)
    flyway: EndpointSwitch = Field(default_factory=EndpointSwitch)
    info: EndpointSwitch = Field(default_factory=EndpointSwitch)
    liquibase: EndpointSwitch = Field(default_factory=EndpointSwitch)
    loggers: LoggersSwitch = Field(default_factory=LoggersSwitch)
    refresh: EndpointSwitch = Field(default_factory=EndpointSwitch)
    routes: EndpointSwitch = Field(default_factory=EndpointSwitch)
    stop: EndpointSwitch = Field(default_factory=EndpointSwitch)
    threaddump: EndpointSwitch = Field(default_factory=EndpointSwitch)

    def enabled(self, name: str) -> bool:
        own = getattr(self, name).enabled
        return self.all.enabled if own is None else own

    def sensitive(self, name: str) -> bool:
        if name == "health":
            return self.health.sensitive
        own = getattr(self, name).sensitive
        return self.all.sensitive if own is None else own


class AdminCredentials(ConfigModel):
    """`http.admin`: the one basic-auth account; with none set, nobody authenticates."""

    username: str | None = None
    password: SecretStr | None = None


class HttpSettings(ConfigModel):
    """`http`."""

    admin: AdminCredentials = Field(default_factory=AdminCredentials)


@dataclass(frozen=True, slots=True)
class ServiceHttpSettings:
    """The pieces above gathered for the code that serves them (auth, IP filter, endpoints, TLS).

    Not a YAML node: each service builds it from wherever its configuration keeps the parts.
    """

    ssl: SslSettings
    security: SecuritySettings
    endpoints: EndpointsSettings
    admin: AdminCredentials
