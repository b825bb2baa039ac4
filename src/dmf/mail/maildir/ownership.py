"""Files dmf creates belong to the mail user, never to root (Dovecot could not change them).

The storage's owner is given by the caller (`open_storage(owner=...)`). Without one, when
running as root, a new file or directory takes the owner of the directory it is created in:
writes into a source tree (numbering new files, finishing a killed run's commit) then still
leave it readable by the Dovecot that serves it.
"""

from __future__ import annotations

import os

from dmf.mail.paths import exists

Owner = tuple[int, int]  # (uid, gid)


def effective(directory: str, owner: Owner | None) -> Owner | None:
    """The owner a file created in `directory` must be given, or None when creating it already
    gives the right one (our own uid and gid, as Dovecot leaves it: a setgid directory's group
    is then kept). Resolved once per directory by the per-message path."""
    if owner is None:
        if os.geteuid() != 0:
            return None
        parent = os.stat(directory or ".")
        if parent.st_uid == 0:
            return None
        owner = (parent.st_uid, parent.st_gid)
    return None if owner == (os.geteuid(), os.getegid()) else owner


def give(path: str | os.PathLike[str], owner: Owner | None) -> None:
    """chown a path dmf just created to the mail user."""
    target = effective(os.path.dirname(os.fspath(path)), owner)
    if target is not None:
        os.chown(path, target[0], target[1], follow_symlinks=False)


def make_dirs(path: str, owner: Owner | None, mode: int = 0o700) -> None:
    """mkdir -p, giving every directory it creates to `owner`."""
    missing = []
    current = path
    while not exists(current):
        missing.append(current)
        current = os.path.dirname(current) or "."  # a relative path ends at the working dir
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue
        give(directory, owner)
