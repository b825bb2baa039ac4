"""Fixtures of the CLI tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.dovecot import traversable_dir


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    path = traversable_dir("dmf-cli-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def module_open_tmp() -> Iterator[Path]:
    path = traversable_dir("dmf-cli-")
    yield path
    shutil.rmtree(path, ignore_errors=True)
