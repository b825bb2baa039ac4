"""Fixtures of the mail tests: the project's sample Maildir (doveadm comes from
tests/fixtures/dovecot.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmf.mail.sample import write_sample_maildir


@pytest.fixture
def sample_maildir(tmp_path: Path) -> Path:
    root = tmp_path / "sample"
    write_sample_maildir(root, messages=60, seed=3)
    return root
