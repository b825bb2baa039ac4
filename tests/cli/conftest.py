"""Fixtures of the CLI tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def traversable_dir() -> Path:
    """A temp dir that the unprivileged mail uid can reach (pytest's are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="dmf-cli-"))
    path.chmod(0o755)
    return path


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    path = traversable_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def module_open_tmp() -> Iterator[Path]:
    path = traversable_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)
