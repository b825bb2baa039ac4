"""`dmf worker -c dmf-worker.yml`: run the migration worker service until STOP or SIGTERM.

Exit status: 0 after a clean stop (every running job finished), 75 when jobs were still running
at `dmf.worker.jobs.termination.timeout` and were abandoned, the configuration error's 78, ...

Configuration: the `-c` files in order (the global `dmf -c FILE` too, first), then the
environment (`DMF_WORKER_JOBS_MAX=5`), then the global `-o key.path=value` settings, which win
(`dmf -o dmf.worker.jobs.max=5 worker -c dmf-worker.yml`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from argparse import Namespace
from typing import Any

from dmf.cli.context import GlobalOptions
from dmf.cli.parsing import Parser, file_path
from dmf.cli.run import guarded
from dmf.errors import ConfigError, TemporaryError
from dmf.service.config_loader import deep_merge, env_name, key_paths, read_yaml_documents
from dmf.service.worker_config import WorkerConfig, load_worker_config


def settings_environment(settings: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """`-o dmf.worker.jobs.max=5` as the environment variable that names the same key."""
    return {env_name(tuple(key.split("."))): value for key, value in settings}


def check_settings_known(settings: tuple[tuple[str, str], ...], files: tuple[str, ...]) -> None:
    """An environment variable of no key is just another variable; an `-o` of no key is a typo
    that must not pass silently. (A new entry of an open map, such as a source not in the
    files, cannot be added with -o: write it in a file.)"""
    if not settings:
        return
    document: dict[str, Any] = {}
    for path in files:
        document = deep_merge(document, read_yaml_documents(path))
    known = {env_name(path) for path in key_paths(WorkerConfig, document)}
    for key, _value in settings:
        if env_name(tuple(key.split("."))) not in known:
            raise ConfigError(f"-o {key}: unknown key")


def configure(parser: Parser) -> None:
    parser.description = worker.__doc__
    parser.add_argument("-c", "--config", dest="config_files", action="append", default=[],
                        type=file_path(exists=True), metavar="FILE",
                        help="dmf-worker.yml (repeatable; later files win).")
    parser.set_defaults(run=worker)


@guarded
def worker(options: GlobalOptions, args: Namespace) -> int:
    """Run the migration worker: claim jobs, run them, obey PAUSE / START / STOP."""
    files = ((options.config_file,) if options.config_file else ()) + tuple(args.config_files)
    check_settings_known(options.settings, files)
    environ = {**os.environ, **settings_environment(options.settings)}
    config = load_worker_config(files, environ)
    logging.basicConfig(
        level=logging.DEBUG if options.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not options.debug:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # schema steps: -D shows them
    from dmf.worker.process import run_worker  # the service stack only when it runs
    abandoned = asyncio.run(run_worker(config))
    if abandoned:
        # 75: a supervisor sees that work was cut off; the jobs themselves will run again
        raise TemporaryError(
            f"{len(abandoned)} job(s) still running at dmf.worker.jobs.termination.timeout were "
            f"abandoned (ids {', '.join(map(str, abandoned))}): another worker takes them back "
            "once their heartbeat expires")
    return 0
