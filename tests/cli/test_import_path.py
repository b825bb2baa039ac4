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
