"""`dmf worker -c dmf-worker.yml`: run the migration worker service until STOP or SIGTERM.

Configuration: the `-c` files in order (the global `dmf -c FILE` too, first), then the
environment (`DMF_WORKER_JOBS_MAX=5`), then the global `-o key.path=value` settings, which win
(`dmf -o dmf.worker.jobs.max=5 worker -c dmf-worker.yml`).
"""

from __future__ import annotations

import asyncio
import logging
import os

import click

from dmf.cli.context import GlobalOptions
from dmf.cli.run import guarded
from dmf.service.config_loader import env_name
from dmf.service.worker_config import load_worker_config


def settings_environment(settings: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """`-o dmf.worker.jobs.max=5` as the environment variable that names the same key."""
    return {env_name(tuple(key.split("."))): value for key, value in settings}


@click.command("worker")
@click.option("-c", "--config", "config_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="dmf-worker.yml (repeatable; later files win).")
@click.pass_obj
@guarded
def worker(options: GlobalOptions | None, config_files: tuple[str, ...]) -> None:
    """Run the migration worker: claim jobs, run them, obey PAUSE / START / STOP."""
    options = options or GlobalOptions()
    files = ((options.config_file,) if options.config_file else ()) + config_files
    environ = {**os.environ, **settings_environment(options.settings)}
    config = load_worker_config(files, environ)
    logging.basicConfig(
        level=logging.DEBUG if options.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not options.debug:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # schema steps: -D shows them
    from dmf.worker.process import run_worker  # the service stack only when it runs
    asyncio.run(run_worker(config))
