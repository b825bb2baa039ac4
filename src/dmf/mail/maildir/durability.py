"""Making writes durable in batches: one syncfs(2) for many new files instead of one fsync each
(Dovecot's per-message fsync is two thirds of its run time), then directory fsyncs."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)


def sync_filesystem(directory: Path, files: list[Path]) -> None:
    """Flush the filesystem holding `directory` (all of `files` with it) to stable storage;
    falls back to fsync of each file where syncfs(2) is missing."""
    if _syncfs is not None:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
