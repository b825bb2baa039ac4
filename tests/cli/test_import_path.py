"""`dmf backup` keeps a lean import path: the no-change re-run is mostly interpreter start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dmf.mail.sample import write_sample_maildir

HEAVY = ("rich", "pydantic", "sqlalchemy", "fastapi", "uvicorn", "alembic", "httpx",
         "prometheus_client", "cryptography", "click")


def test_backup_imports_no_heavy_library(open_tmp: Path) -> None:
    source = open_tmp / "source"
    write_sample_maildir(source, messages=5)
    argv = [sys.executable, "-X", "importtime", "-m", "dmf", "-v", "-o",
            f"mail_location=maildir:{source}", "backup", f"maildir:{open_tmp}/dest"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "USER": "tester"})
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "dmf" in imported
    assert imported.isdisjoint(HEAVY), imported & set(HEAVY)


# stdlib wrappers a backup does without: each costs start-up for what the C module under it
# already gives (socket, pickle, signal), or for what a str path already gives (pathlib, with
# urllib.parse and ipaddress), or is only needed by a configured userdb (shlex)
AVOIDED = ("pathlib", "urllib", "ipaddress", "socket", "selectors", "pickle", "signal", "shlex")


def test_backup_in_several_processes_imports_none_of_the_avoided_modules(open_tmp: Path) -> None:
    source = open_tmp / "source"
    write_sample_maildir(source, messages=600)  # enough to fork sync processes
    argv = [sys.executable, "-X", "importtime", "-m", "dmf", "-o",
            f"mail_location=maildir:{source}", "-o", "dmf_sync_processes=2", "backup",
            f"maildir:{open_tmp}/dest"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "USER": "tester"})
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "dmf" in imported and "_socket" in imported  # it did fork its sync processes
    assert imported.isdisjoint(AVOIDED), imported & set(AVOIDED)


def test_start_up_runs_without_the_collector_and_the_command_with_it() -> None:
    probe = """
import gc, sys, types
import dmf.__main__ as entry
off_at_start = not gc.isenabled()
import dmf.cli.main as cli
seen = []
module = types.ModuleType("dmf_gc_probe")
module.configure = lambda parser: parser.set_defaults(
    run=lambda options, args: seen.append(gc.isenabled()) or 0)
sys.modules["dmf_gc_probe"] = module
cli.COMMANDS["probe"] = ("dmf_gc_probe", "records whether the collector is on")
try:
    entry.main(["probe"])
except SystemExit as exc:
    print(off_at_start, exc.code, seen)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["True", "0", "[True]"], done.stderr
