"""Files dmf creates belong to the mail user, never to root (Dovecot could not change them)."""

from __future__ import annotations

import os
from pathlib import Path

Owner = tuple[int, int]  # (uid, gid)


def give(path: Path | str, owner: Owner | None) -> None:
    """chown a path dmf just created to the mail user, when one is given."""
    if owner is not None:
        os.chown(path, owner[0], owner[1], follow_symlinks=False)


def make_dirs(path: Path, owner: Owner | None, mode: int = 0o700) -> None:
    """mkdir -p, giving every directory it creates to `owner`."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue
        give(directory, owner)
