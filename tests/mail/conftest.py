"""Fixtures of the mail tests: a real doveadm and the project's sample Maildir."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmf.mail.sample import write_sample_maildir
from tests.mail.doveadm import Doveadm


@pytest.fixture
def doveadm() -> Iterator[Doveadm]:
    workdir = Path(tempfile.mkdtemp(prefix="dmf-doveadm-"))
    try:
        yield Doveadm(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def sample_maildir(tmp_path: Path) -> Path:
    root = tmp_path / "sample"
    write_sample_maildir(root, messages=60, seed=3)
    return root
