"""`dmf scheduler -c scheduler.yml`: serve the admin REST API (and /health, /metrics) until
SIGINT / SIGTERM.

Configuration: the `-c` files in order (the global `dmf -c FILE` first), then the environment
(`HTTP_ADMIN_PASSWORD`, `DATASOURCES_DEFAULT_URL`, ...), then the global `-o key.path=value`
settings, which win. The schema is brought up to date before serving.
"""

from __future__ import annotations

import logging
import os
from argparse import Namespace

from dmf.cli.context import GlobalOptions
from dmf.cli.parsing import Parser, file_path, int_range
from dmf.cli.run import guarded
from dmf.cli.worker import settings_environment


def configure(parser: Parser) -> None:
    parser.description = scheduler.__doc__
    parser.add_argument("-c", "--config", dest="config_files", action="append", default=[],
                        type=file_path(exists=True), metavar="FILE",
                        help="scheduler.yml (repeatable; later files win).")
    parser.add_argument("--host",
                        help="Listen address (default: micronaut.server.host).")
    parser.add_argument("--port", type=int_range(0, 65535),
                        help="Listen port (default: micronaut.ssl.port with TLS, else "
                             "micronaut.server.port).")
    parser.set_defaults(run=scheduler)


@guarded
def scheduler(options: GlobalOptions, args: Namespace) -> int:
    """Run the scheduler's admin REST API."""
    host: str | None = args.host
    port: int | None = args.port
    from dmf.service.scheduler_config import load_scheduler_config

    files = ((options.config_file,) if options.config_file else ()) + tuple(args.config_files)
    config = load_scheduler_config(files, {**os.environ,
                                           **settings_environment(options.settings)})
    # The web stack is imported only once the configuration holds.
    from prometheus_client import CollectorRegistry, ProcessCollector

    from dmf.api.app import create_app
    from dmf.migration_db.repository import MigrationRepository
    from dmf.service.serve import serve

    logging.basicConfig(level=logging.DEBUG if options.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    datasource = config.datasources.default
    repository = MigrationRepository.connect(
        datasource.url, datasource.username,
        datasource.password.get_secret_value() if datasource.password else None)
    try:
        repository.upgrade()
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        app = create_app(config, repository, registry)
        serve(app, host or config.micronaut.server.host,
              config.http_port if port is None else port, config.micronaut.ssl,
              log_level="debug" if options.debug else "info")
    finally:
        repository.close()
    return 0
