"""The mail_fsync modes: which syncs a batch of new message files, a control file and a
directory get. Durability itself cannot be observed without crashing a machine, so these count
the sync calls the kernel is asked for; the rest of the suite runs the default mode for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dmf.errors import ConfigError
from dmf.mail import durability
from dmf.mail.durability import Durability


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts fsync(2) and syncfs(2) requests, passing them on to the kernel."""
    counted = {"fsync": 0, "syncfs": 0}
    real_fsync, real_syncfs = os.fsync, durability._syncfs()
    assert real_syncfs is not None, "this machine's libc has syncfs"

    def fsync(fd: int) -> None:
        counted["fsync"] += 1
        real_fsync(fd)

    def syncfs(fd: int) -> int:
        counted["syncfs"] += 1
        return real_syncfs(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(durability, "_syncfs", lambda: syncfs)
    return counted


@pytest.fixture
def bodies(tmp_path: Path) -> list[str]:
    paths = []
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(b"x")
        paths.append(str(tmp_path / name))
    return paths


def test_optimized_syncs_the_filesystem_once_per_batch(tmp_path, bodies, calls) -> None:
    def untouched():
        raise AssertionError("syncfs flushes the filesystem; the list is for the fallback")
        yield ""

    Durability.OPTIMIZED.many(tmp_path, untouched())
    assert calls == {"fsync": 0, "syncfs": 1}


def test_optimized_falls_back_to_an_fsync_per_file(tmp_path, bodies, calls, monkeypatch) -> None:
    monkeypatch.setattr(durability, "_syncfs", lambda: None)
    Durability.OPTIMIZED.many(tmp_path, iter(bodies))
    assert calls["fsync"] == len(bodies)
    with pytest.raises(FileNotFoundError):  # a file that is not there is an error
        Durability.OPTIMIZED.many(tmp_path, iter([*bodies, str(tmp_path / "gone")]))


def test_always_fsyncs_each_file_and_never_the_whole_filesystem(tmp_path, bodies,
                                                                calls) -> None:
    Durability.ALWAYS.many(tmp_path, iter(bodies))
    Durability.ALWAYS.directory(tmp_path)
    assert calls == {"fsync": len(bodies) + 1, "syncfs": 0}


def test_always_fsyncs_unnamed_files_by_descriptor(tmp_path, bodies, calls) -> None:
    unnamed = os.open(tmp_path, os.O_WRONLY | os.O_TMPFILE, 0o600)
    try:
        Durability.ALWAYS.many(tmp_path, iter([unnamed, *bodies]))
    finally:
        os.close(unnamed)
    assert calls == {"fsync": len(bodies) + 1, "syncfs": 0}


def test_never_asks_for_no_sync(tmp_path, bodies, calls) -> None:
    Durability.NEVER.many(tmp_path, iter(bodies))
    Durability.NEVER.directory(tmp_path)
    fd = os.open(bodies[0], os.O_RDONLY)
    try:
        Durability.NEVER.file(fd)
    finally:
        os.close(fd)
    assert calls == {"fsync": 0, "syncfs": 0}


@pytest.mark.parametrize(("value", "mode"), [(None, Durability.OPTIMIZED),
                                             ("", Durability.OPTIMIZED),
                                             ("always", Durability.ALWAYS),
                                             (" Never ", Durability.NEVER)])
def test_setting_values(value, mode) -> None:
    assert Durability.from_setting(value) is mode


def test_unknown_setting_value_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^mail_fsync=sometimes: expected optimized, always "
                                          r"or never$"):
        Durability.from_setting("sometimes")
