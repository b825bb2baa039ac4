"""Batched durability: one syncfs per batch, or an fsync of every file where syncfs is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmf.mail.maildir import durability


def test_fallback_fsyncs_every_file_the_generator_yields(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durability, "_syncfs", lambda: None)
    written = []
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"x")
        written.append(str(tmp_path / name))
    durability.sync_filesystem(tmp_path, iter(written))  # every file opened and synced
    with pytest.raises(FileNotFoundError):  # a file that is not there is an error
        durability.sync_filesystem(tmp_path, iter([*written, str(tmp_path / "gone")]))


def test_syncfs_does_not_touch_the_file_list(tmp_path: Path) -> None:
    def files():
        raise AssertionError("syncfs flushes the filesystem; the list is for the fallback")
        yield ""

    durability.sync_filesystem(tmp_path, files())
