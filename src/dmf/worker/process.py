"""One `dmf worker` process: the migration database, the loop, and the HTTP endpoints together.

HTTP: the worker serves the shared service endpoints (`/health`, `/metrics`, `/metrics/{name}`,
`/prometheus`) on `micronaut.server.host`; the port is `micronaut.ssl.port` (the seed's 8443)
when `micronaut.ssl.enabled` is true, else `micronaut.server.port` (Micronaut's key, default
8080). uvicorn runs inside the worker's own event loop; the worker, not uvicorn, owns SIGTERM and
SIGINT, so a signal drains the jobs first and closes the HTTP server last. `/health` reports the
service DOWN from the moment the worker starts stopping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from dmf.errors import ConfigError
from dmf.migration_db.keys import KeyRing, StorageKeySource
from dmf.migration_db.models import BackendStatus
from dmf.migration_db.repository import MigrationRepository
from dmf.service.endpoints import install_service
from dmf.service.health import HealthProbe
from dmf.service.metrics import ServiceMetrics
from dmf.service.serve import build_server, tls_files
from dmf.service.worker_config import InitialState, PollerType, WorkerConfig
from dmf.worker.execution import JobExecutor
from dmf.worker.poller import DatabaseBackendLink, DatabaseFeed
from dmf.worker.service import HEARTBEAT_TIMEOUT_INTERVALS, JobFeed, WorkerService
from dmf.worker.simulator import SimulatedFeed

log = logging.getLogger(__name__)


def create_app(config: WorkerConfig, registry: CollectorRegistry, repository: MigrationRepository,
               service_up: Callable[[], bool]) -> FastAPI:
    """The worker's HTTP app: only the service endpoints (the worker has no API of its own)."""
    app = FastAPI(title="dmf worker", openapi_url=None, docs_url=None, redoc_url=None)
    probe = HealthProbe(application=config.micronaut.application.name,
                        settings=config.endpoints.health, engine=repository.engine,
                        service_up=service_up)
    install_service(app, config.service_http(), registry, probe)
    return app


def memberid_of(config: WorkerConfig) -> str:
    memberid = config.dmf.worker.identity.memberid
    if not memberid:
        raise ConfigError("dmf.worker.identity.memberid: required: the worker registers as "
                          "backend <target>/<memberid>")
    return memberid


def open_repository(config: WorkerConfig) -> MigrationRepository:
    source = config.datasources.default
    password = source.password.get_secret_value() if source.password is not None else None
    repository = MigrationRepository.connect(source.url, source.username, password)
    repository.upgrade()
    return repository


async def run_worker(config: WorkerConfig) -> list[int]:
    """Run until STOP, SIGTERM or SIGINT; returns the ids of the jobs abandoned at shutdown
    (left RUNNING: their heartbeat expires and a worker takes them back)."""
    worker = config.dmf.worker
    memberid = memberid_of(config)
    refresh = worker.jobs.cache.refresh.total_seconds()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
        max_workers=config.micronaut.executors.worker_executor.number_of_threads,
        thread_name_prefix="worker-executor"))
    repository = await asyncio.to_thread(open_repository, config)
    try:
        registry = CollectorRegistry()
        metrics = ServiceMetrics(registry)
        metrics.watch_connection_pool(repository.engine.pool)
        link = DatabaseBackendLink(
            repository, target=worker.identity.target, memberid=memberid,
            initial_state=BackendStatus.STARTED if worker.state.initial is InitialState.STARTED
            else BackendStatus.STOPPED,
            max_threads=worker.jobs.max, state_type=worker.state.type)
        feed: JobFeed
        if worker.jobs.poller.type is PollerType.SIMULATOR:
            feed = SimulatedFeed(worker.jobs.poller.simulator, worker.identity.target,
                                 worker.source_names[0])
        else:
            feed = DatabaseFeed(repository, backend_name=link.name,
                                target=worker.identity.target, sources=worker.source_names,
                                heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_INTERVALS * refresh)
        keyring = KeyRing({
            name: StorageKeySource(entry.file, entry.secret.get_secret_value()
                                   if entry.secret is not None else None)
            for name, entry in worker.crypto.storage_keys.items()})
        service = WorkerService(
            link=link, feed=feed, run_job=JobExecutor(config, metrics, keyring.unwrap_job_password),
            metrics=metrics, refresh_seconds=refresh, cache_size=worker.jobs.cache.size,
            termination_timeout_seconds=worker.jobs.termination.timeout / 1000)
        service.install_signal_handlers()
        app = create_app(config, registry, repository,
                         lambda: service.status is not BackendStatus.STOPPING)
        return await _run_with_http(service, app, config)
    finally:
        await asyncio.to_thread(repository.close)


async def _run_with_http(service: WorkerService, app: FastAPI,
                         config: WorkerConfig) -> list[int]:
    host = config.micronaut.server.host
    listener = _listen(host, config.http_port, "micronaut.ssl.port" if config.micronaut.ssl.enabled
                       else "micronaut.server.port")
    with listener, tls_files(config.micronaut.ssl) as tls:
        server = build_server(app, host, config.http_port, tls, log_level="warning")
        # The worker handles the signals (drain first); uvicorn must not take them over.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        http = asyncio.create_task(server.serve(sockets=[listener]), name="http")
        log.info("serving /health, /metrics and /prometheus on %s://%s:%d",
                 "https" if tls else "http", host, config.http_port)
        try:
            return await service.run()
        finally:
            server.should_exit = True
            await http


def _listen(host: str, port: int, key: str) -> socket.socket:
    """Bind here rather than in uvicorn, whose bind failure ends the process with SystemExit:
    a port in use is a configuration error naming the key."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"{key}: cannot listen on {host}:{port}: {reason}") from None
