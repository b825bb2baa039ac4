"""The model of dmf-worker.yml: every key of the seed's appendix A, with the seed's defaults.

The tree mirrors the YAML (`config.dmf.worker.jobs.max`), so a key in the documentation is found
in the code under the same path. Sections shared with the scheduler (`micronaut.ssl`,
`micronaut.security`, `endpoints`, `http.admin`) come from `service/http_settings.py`; the
per-source doveadm settings (`dmf.doveadm`) from `worker/source_settings.py`.

Additions to the seed, each documented where it is declared:
- `dmf.worker.simulator.min-ms` / `max-ms`: the simulator worker type's sleep range (the seed's
  fixed 1-10 s), so tests and demos can shorten it.
- `micronaut.server.port` / `host`: where the worker serves /health, /metrics and /prometheus
  without TLS (Micronaut's key; with `micronaut.ssl.enabled` the port is `micronaut.ssl.port`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from dmf.service import http_settings
from dmf.service.config_loader import Duration, load_config
from dmf.service.config_model import ConfigModel
from dmf.worker.source_settings import DoveadmSettings

# ---------------------------------------------------------------- micronaut.*


class ServerSettings(ConfigModel):
    """`micronaut.server` (not printed in the seed; Micronaut's own key, Micronaut's default
    port). Port 0 lets the system choose."""

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)


class ApplicationSettings(ConfigModel):
    name: str = "worker"


class PrometheusExportSettings(ConfigModel):
    enabled: bool = True
    descriptions: bool = True
    step: Duration = Field(default="PT1M", validate_default=True)


class MetricsExportSettings(ConfigModel):
    prometheus: PrometheusExportSettings = Field(default_factory=PrometheusExportSettings)


class MetricsSettings(ConfigModel):
    enabled: bool = True
    export: MetricsExportSettings = Field(default_factory=MetricsExportSettings)


class ExecutorType(enum.StrEnum):
    FIXED = "fixed"
    CACHED = "cached"
    SCHEDULED = "scheduled"
    WORK_STEALING = "work_stealing"


class ExecutorSettings(ConfigModel):
    """A Micronaut executor pool. dmf runs jobs as asyncio tasks and their blocking database
    calls in threads; `number-of-threads` bounds those threads, as the pool bounded Java's."""

    name: str
    type: ExecutorType = ExecutorType.FIXED
    number_of_threads: int = Field(default=100, ge=1, alias="number-of-threads")


class ExecutorsSettings(ConfigModel):
    worker_executor: ExecutorSettings = Field(
        default_factory=lambda: ExecutorSettings(name="worker-executor"), alias="worker-executor")
    command_executor: ExecutorSettings = Field(
        default_factory=lambda: ExecutorSettings(name="command-executor"),
        alias="command-executor")


class TrustStoreSettings(ConfigModel):
    path: str | None = None
    password: SecretStr | None = None
    type: http_settings.KeyStoreType = http_settings.KeyStoreType.PKCS12


class ClientSslSettings(ConfigModel):
    enabled: bool = False
    trust_store: TrustStoreSettings = Field(default_factory=TrustStoreSettings,
                                            alias="trust-store")


class HttpServiceSettings(ConfigModel):
    """`micronaut.http.services.<name>`: an HTTP client, e.g. the doveadm HTTP API's TLS."""

    ssl: ClientSslSettings = Field(default_factory=ClientSslSettings)


class HttpClientsSettings(ConfigModel):
    services: dict[str, HttpServiceSettings] = Field(default_factory=dict)


class ServiceMicronaut(ConfigModel):
    """`micronaut` as every dmf service reads it: where it listens (`server`, or `ssl` when
    enabled) and who may call it (`security`). The scheduler's whole section."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    ssl: http_settings.SslSettings = Field(default_factory=http_settings.SslSettings)
    security: http_settings.SecuritySettings = Field(
        default_factory=http_settings.SecuritySettings)


class MicronautSettings(ServiceMicronaut):
    """The worker's `micronaut`: TLS on by default (the seed's keystore), and the worker's own
    application name, metrics, executors and HTTP clients."""

    ssl: http_settings.SslSettings = Field(default_factory=lambda: http_settings.SslSettings(
        enabled=True, **{"key-store": http_settings.KeyStoreSettings(
            path="file:/opt/open-xchange/dmf/certs/keystore.p12")}))
    application: ApplicationSettings = Field(default_factory=ApplicationSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    executors: ExecutorsSettings = Field(default_factory=ExecutorsSettings)
    http: HttpClientsSettings = Field(default_factory=HttpClientsSettings)


# ---------------------------------------------------------------- datasources.*


class DataSourceSettings(ConfigModel):
    """`url` is a SQLAlchemy URL or the seed's `jdbc:mysql://` / `jdbc:postgresql://` form
    (converted by the migration database layer). `dialect` and `driverClassName` are Java's
    and only accepted, for files written for the original worker."""

    url: str = "jdbc:mysql://localhost:3306/migration?createDatabaseIfNotExist=true"
    username: str | None = None
    password: SecretStr | None = None
    dialect: str | None = "MYSQL"
    driver_class_name: str | None = Field(default="org.mariadb.jdbc.Driver",
                                          alias="driverClassName")


class DataSourcesSettings(ConfigModel):
    default: DataSourceSettings = Field(default_factory=DataSourceSettings)


# ---------------------------------------------------------------- dmf.worker.*


class StorageKey(ConfigModel):
    """A key file (the raw or encoded AES-256 key) or `keystore:<path>` with its `secret`."""

    file: str
    secret: SecretStr | None = None


class CryptoSettings(ConfigModel):
    storage_keys: dict[str, StorageKey] = Field(default_factory=dict, alias="storageKeys")

    @field_validator("storage_keys", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class InitialState(enum.StrEnum):
    STARTED = "STARTED"
    STOPPED = "STOPPED"


class StateType(enum.StrEnum):
    DATABASE = "database"
    CONFIG = "config"


class StateSettings(ConfigModel):
    initial: InitialState = InitialState.STARTED
    type: StateType = StateType.DATABASE


class CacheSettings(ConfigModel):
    """`refresh` is also the heartbeat and control poll interval: PAUSE / START / STOP and
    maxThreads take effect within one interval, and a worker whose heartbeat is 3 intervals old
    counts as dead (its running jobs go back to the queue). The seed's section 2.2.9.1 spells it
    `referesh`; both spellings are read."""

    size: int = Field(default=1000, ge=1)
    refresh: Duration = Field(default="5s", validate_default=True,
                              validation_alias=AliasChoices("refresh", "referesh"),
                              alias="refresh")

    @field_validator("refresh")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if value.total_seconds() <= 0:
            raise ValueError(f"expected a duration above zero, got {value}")
        return value


class TerminationSettings(ConfigModel):
    timeout: int = Field(default=30000, ge=0)  # milliseconds


class PollerType(enum.StrEnum):
    DATABASE = "database"
    SIMULATOR = "simulator"


class PollerSimulatorSettings(ConfigModel):
    max_jobs: int = Field(default=5, ge=0, alias="max-jobs")
    max_wait_ms: int = Field(default=0, ge=0, alias="max-wait-ms")


class PollerSettings(ConfigModel):
    type: PollerType = PollerType.DATABASE
    simulator: PollerSimulatorSettings = Field(default_factory=PollerSimulatorSettings)


class JobsSettings(ConfigModel):
    cache: CacheSettings = Field(default_factory=CacheSettings)
    max: int = Field(default=10, ge=0)
    termination: TerminationSettings = Field(default_factory=TerminationSettings)
    poller: PollerSettings = Field(default_factory=PollerSettings)


class IdentitySettings(ConfigModel):
    """The backend name is `target/memberid`; `memberid` has no default (the worker refuses to
    start without one), YAML's `memberid: 1` is read as the text "1"."""

    target: str = "default"
    memberid: str | None = None

    @field_validator("memberid", mode="before")
    @classmethod
    def _number_is_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def backend_name(self) -> str | None:
        return None if self.memberid is None else f"{self.target}/{self.memberid}"


class WorkerType(enum.StrEnum):
    DOVEADM = "doveadm"
    COMMAND = "command"
    SIMULATOR = "simulator"


class SimulatorSettings(ConfigModel):
    """dmf's addition: the simulator worker sleeps a random time in [min-ms, max-ms]
    (the seed's 1-10 s by default)."""

    min_ms: int = Field(default=1000, ge=0, alias="min-ms")
    max_ms: int = Field(default=10000, ge=0, alias="max-ms")

    @model_validator(mode="after")
    def _ordered(self) -> SimulatorSettings:
        if self.max_ms < self.min_ms:
            raise ValueError(f"max-ms ({self.max_ms}) is below min-ms ({self.min_ms})")
        return self


class LoggingType(enum.StrEnum):
    FILE = "file"
    LOGGER = "logger"
    OFF = "off"


class LogFileSettings(ConfigModel):
    """`format` specifiers: %(source) %(user) %(phase) %(job) %(date)."""

    format: str = "%(source)-%(user)-user-migration.log"
    location: str = "/app"
    delete_on_success: bool = Field(default=True, alias="delete-on-success")


class CommandLoggingSettings(ConfigModel):
    type: LoggingType = LoggingType.FILE
    file: LogFileSettings = Field(default_factory=LogFileSettings)


class WorkerCommandSettings(ConfigModel):
    logging: CommandLoggingSettings = Field(default_factory=CommandLoggingSettings)


class WorkerSettings(ConfigModel):
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    sources: str | list[str] = "default"
    state: StateSettings = Field(default_factory=StateSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    type: WorkerType = WorkerType.DOVEADM
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    command: WorkerCommandSettings = Field(default_factory=WorkerCommandSettings)

    @field_validator("sources")
    @classmethod
    def _some_sources(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names or any(not name for name in names):
            raise ValueError("expected one source name or a list of them, got an empty name")
        return value

    @property
    def source_names(self) -> tuple[str, ...]:
        """`sources: default` and `sources: [POD_1, POD_2]` alike, as a tuple."""
        return (self.sources,) if isinstance(self.sources, str) else tuple(self.sources)


class DmfSettings(ConfigModel):
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    doveadm: DoveadmSettings = Field(default_factory=DoveadmSettings)


# ---------------------------------------------------------------- the file


class ServiceConfig(ConfigModel):
    """What the worker's and the scheduler's files share: `micronaut` (the worker narrows it to
    its larger section), endpoints, admin credentials and the migration database. Subclasses
    add their own `dmf` section."""

    micronaut: ServiceMicronaut = Field(default_factory=ServiceMicronaut)
    endpoints: http_settings.EndpointsSettings = Field(
        default_factory=http_settings.EndpointsSettings)
    http: http_settings.HttpSettings = Field(default_factory=http_settings.HttpSettings)
    datasources: DataSourcesSettings = Field(default_factory=DataSourcesSettings)

    def service_http(self) -> http_settings.ServiceHttpSettings:
        return http_settings.ServiceHttpSettings(
            ssl=self.micronaut.ssl, security=self.micronaut.security,
            endpoints=self.endpoints, admin=self.http.admin)

    @property
    def http_port(self) -> int:
        """TLS on: `micronaut.ssl.port` (the seed's 8443); off: `micronaut.server.port`."""
        ssl = self.micronaut.ssl
        return ssl.port if ssl.enabled else self.micronaut.server.port


class WorkerConfig(ServiceConfig):
    """The whole of dmf-worker.yml."""

    micronaut: MicronautSettings = Field(default_factory=MicronautSettings)
    dmf: DmfSettings = Field(default_factory=DmfSettings)


def load_worker_config(paths: Sequence[Path | str],
                       environ: Mapping[str, str] | None = None) -> WorkerConfig:
    """dmf-worker.yml files (later win) plus the environment (`os.environ` when not given)."""
    return load_config(WorkerConfig, paths, os.environ if environ is None else environ)
