"""Fixtures shared by the backup acceptance tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.trees import message_files, run_backup, write_corpus


@pytest.fixture(scope="module")
def first_backup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(source, dmf's first backup of it into an empty destination), made once per module:
    writing the corpus and backing it up is the costly part of these tests. Tests change
    copies only."""
    root = tmp_path_factory.mktemp("backup")
    source = root / "source"
    write_corpus(source)
    dest = root / "dest"
    code, events, stderr = run_backup(source, dest)
    assert code == 0, stderr
    assert sum(event["saved"] for event in events) == len(message_files(source))
    return source, dest
