"""How writes are made durable, after Dovecot's `mail_fsync` setting.

optimized (the default): the new files of a batch (its bodies and the control files written
  with them) with one syncfs(2) instead of an fsync each (Dovecot's per-message fsync is two
  thirds of its run time), other control files and directories with fsync; the directory
  syncs a store defers to its close (`settle`) with one more syncfs. Falls back to an fsync
  per file where syncfs is missing.
always: an fsync per file instead of syncfs, which flushes only dmf's own files - for a
  filesystem where other users' dirty data would make every syncfs slow.
never: no syncs at all; renames keep their order, but a crash may lose the last writes
  (a bulk first pass that is run again anyway).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from enum import Enum

from dmf.errors import ConfigError


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs, loaded on first use (ctypes costs import time a no-change run avoids)."""
    import ctypes

    return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


def _fsync_path(path: str | os.PathLike[str], flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Durability(Enum):
    OPTIMIZED = "optimized"
    ALWAYS = "always"
    NEVER = "never"

    @classmethod
    def from_setting(cls, value: str | None) -> Durability:
        """The `mail_fsync` setting's value (unset: optimized); anything else is a ConfigError."""
        if not value:
            return cls.OPTIMIZED
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ConfigError(f"mail_fsync={value}: expected optimized, always or never"
                              ) from None

    def many(self, directory: str | os.PathLike[str], files: Iterable[str | int]) -> None:
        """Make `files` (paths of files or directories, or descriptors of unnamed files, on the
        filesystem of `directory`) durable at once: new message files before any uidlist
        names them, or the directories a store's commits changed. `files` is iterated only
        when they are synced one by one."""
        if self is Durability.NEVER:
            return
        if self is Durability.OPTIMIZED:
            syncfs = _syncfs()
            if syncfs is not None:
                fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    if syncfs(fd) == 0:
                        return
                finally:
                    os.close(fd)
        for file in files:
            if isinstance(file, int):
                os.fsync(file)
            else:
                _fsync_path(file)

    def file(self, fd: int) -> None:
        """A small control file just written."""
        if self is not Durability.NEVER:
            os.fsync(fd)

    def directory(self, directory: str | os.PathLike[str]) -> None:
        """Make renames and unlinks in `directory` durable."""
        if self is not Durability.NEVER:
            _fsync_path(directory, os.O_RDONLY | os.O_DIRECTORY)
