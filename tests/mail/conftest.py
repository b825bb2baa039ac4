"""Fixtures of the mail tests: the project's sample Maildir, a small filesystem of its own
(doveadm comes from tests/fixtures/dovecot.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmf.mail.sample import write_sample_maildir
from tests.fixtures.services import unavailable


@pytest.fixture
def sample_maildir(tmp_path: Path) -> Path:
    root = tmp_path / "sample"
    write_sample_maildir(root, messages=60, seed=3)
    return root


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        unavailable("tmpfs mount", done.stderr.decode(errors="replace").strip())
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)
