"""Files dmf creates belong to the mail user, never to root (Dovecot could not change them).

The storage's owner is given by the caller (`open_storage(owner=...)`). Without one, when
running as root, a new file or directory takes the owner of the directory it is created in:
writes into a source tree (numbering new files, finishing a killed run's commit) then still
leave it readable by the Dovecot that serves it.
"""

from __future__ import annotations

import os
from pathlib import Path

Owner = tuple[int, int]  # (uid, gid)


def give(path: Path | str, owner: Owner | None) -> None:
    """chown a path dmf just created to the mail user."""
    if owner is None:
        if os.geteuid() != 0:
            return
        parent = os.stat(os.path.dirname(os.fspath(path)) or ".")
        if parent.st_uid == 0:
            return
        owner = (parent.st_uid, parent.st_gid)
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
