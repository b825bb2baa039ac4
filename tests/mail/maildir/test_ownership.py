"""Whom dmf gives the files it creates: the mail user, never root; no chown when creating the
file already gave the right owner (the per-message path saves that syscall)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dmf.mail.maildir.ownership import effective, give

ME = (os.geteuid(), os.getegid())


def test_no_chown_when_the_owner_is_ourselves(tmp_path: Path) -> None:
    assert effective(str(tmp_path), ME) is None


def test_another_owner_is_kept(tmp_path: Path) -> None:
    assert effective(str(tmp_path), (ME[0] + 1, ME[1])) == (ME[0] + 1, ME[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="only root creates files for other users")
def test_root_without_owner_gives_files_to_the_directorys_owner(tmp_path: Path) -> None:
    assert effective(str(tmp_path), None) is None  # root's own directory: nothing to do
    os.chown(tmp_path, 5000, 5001)
    assert effective(str(tmp_path), None) == (5000, 5001)
    created = tmp_path / "new-file"
    created.write_bytes(b"")
    give(created, None)
    assert (created.stat().st_uid, created.stat().st_gid) == (5000, 5001)
