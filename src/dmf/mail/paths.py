"""Paths as dmf spells and tests them: plain str (pathlib's import costs a command's start-up
3.7 ms, with urllib.parse and ipaddress), with pathlib's rules kept where os.path's differ."""

import errno
import os
import stat

# The errors for which exists() and is_dir() answer False: nothing is there (or a symlink
# loop). Others (EACCES, ENAMETOOLONG, EIO) are raised, unlike os.path.exists(): a tree we may
# not search must fail as such, not pass for a missing one (an empty store, a new mailbox).
_ABSENT_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno not in _ABSENT_ERRNOS:
            raise
        return None
    except ValueError:  # a NUL in the path: nothing there
        return None


def exists(path: str) -> bool:
    """Whether `path` exists (symlinks followed; other errors than _ABSENT_ERRNOS raised)."""
    return _stat(path) is not None


def is_dir(path: str) -> bool:
    """Whether `path` is a directory (symlinks followed; other errors than _ABSENT_ERRNOS
    raised)."""
    status = _stat(path)
    return status is not None and stat.S_ISDIR(status.st_mode)


def normal_path(path: str) -> str:
    """`path` as pathlib spells it, the form dmf uses for the paths it is given (settings,
    mail locations, -c, -F): doubled "/", "." levels and a trailing "/" dropped, a leading "//"
    kept, "." for "". ".." is kept too, unlike os.path.normpath: after a symlink it is not the
    level before."""
    levels = "/".join(level for level in path.split("/") if level and level != ".")
    if path.startswith("/"):
        root = "//" if path.startswith("//") and not path.startswith("///") else "/"
        return root + levels
    return levels or "."
