"""Writing a message body before its commit.

Where the filesystem has them (O_TMPFILE), a copied body goes into an unnamed file held open
until the commit links it into new/ or cur/ (linkat through /proc/self/fd): no temp name to
create, no rename, nothing left behind by a killed run, and no cross-directory rename lock
shared by the processes of a run. A cross-directory rename per message cost as much as creating
the file: a bare two-process copy of the 20,000-message benchmark corpus (sendfile, a syncfs
per 1,000) took 1.2-1.4 s this way against 1.6-1.9 s with tmp/ and rename. A hard link to a
message the destination holds, a filesystem without unnamed files (NFS) and a process short of
descriptors use `tmp/dmf.<final name>` instead, renamed at the commit. The file gets the
message's internal date as its mtime; syncs are left to the batch.
"""

import errno
import functools
import os
from _thread import allocate_lock
from typing import BinaryIO, NamedTuple

from dmf.mail.maildir.atomic import discard, os_error
from dmf.mail.maildir.ownership import Owner
from dmf.mail.storage import Body
from dmf.open_files import WANTED, raise_soft_limit

BUFFER_SIZE = 1 << 20
# Unnamed files wait for their commit as open descriptors. dmf raises its soft limit (see
# open_files) and keeps FD_RESERVE free for everything else; past that a body goes to tmp/
# under a name.
FD_RESERVE = 256
_NO_UNNAMED_ERRNOS = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)
_NO_SENDFILE_ERRNOS = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


class Written(NamedTuple):
    size: int
    vsize: int | None
    fd: int | None  # the unnamed file holding the body; None: the body is at its tmp/ name


class _Unnamed:
    """How many unnamed files this process holds, and where they cannot be made. A commit
    finishing in the background closes some in its thread (`_lock`)."""

    def __init__(self) -> None:
        self.held = 0
        self.refused: set[str] = set()  # tmp/ directories whose filesystem has none
        self._lock = allocate_lock()

    @functools.cached_property
    def limit(self) -> int:
        if not os.path.isdir("/proc/self/fd"):
            return 0  # no way to link them
        return max(0, min(raise_soft_limit(), WANTED) - FD_RESERVE)

    def open(self, directory: str) -> int | None:
        """A new unnamed file on `directory`'s filesystem, or None (none possible now)."""
        if self.held >= self.limit or directory in self.refused:
            return None
        try:
            fd = os.open(directory, os.O_WRONLY | os.O_TMPFILE, 0o600)
        except OSError as exc:
            if exc.errno not in _NO_UNNAMED_ERRNOS:
                raise
            self.refused.add(directory)
            return None
        self.count(1)
        return fd

    def count(self, change: int) -> None:
        with self._lock:
            self.held += change

    def close(self, fd: int) -> None:
        self.count(-1)
        os.close(fd)


_unnamed = _Unnamed()


def reader_path(fd: int) -> str:
    """A path that opens the unnamed file `fd` in this process (and links it, with linkat's
    AT_SYMLINK_FOLLOW)."""
    return f"/proc/self/fd/{fd}"


def publish(fd: int, directory_fd: int, name: str) -> None:
    """Give the unnamed file `fd` its name in the directory (new/ or cur/), and close it."""
    try:  # a directory fd makes os.link call linkat, which can follow the /proc link
        os.link(reader_path(fd), name, dst_dir_fd=directory_fd)
    finally:
        _unnamed.close(fd)


def drop(fd: int) -> None:
    """Close this process's descriptor of an unnamed file: the body goes with it, unless
    another process holds it too (handed over with its descriptor)."""
    _unnamed.close(fd)


def _try_link(source: str, target: str, internal_date: int) -> int | None:
    """Hard-link `source` to `target` if that keeps the date right; its size, else None."""
    try:
        status = os.stat(source)
    except OSError:
        return None
    if internal_date and int(status.st_mtime) != internal_date:
        return None  # one inode, one mtime: linking would change the other message's date
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOENT, errno.EACCES):
            return None
        raise
    return status.st_size


def _count_bare_lf(chunk: bytes, previous_cr: bool) -> int:
    bare = chunk.count(b"\n") - chunk.count(b"\r\n")
    if previous_cr and chunk.startswith(b"\n"):
        bare -= 1
    return bare


def _copy(source: BinaryIO, fd: int, want_vsize: bool) -> tuple[int, int | None]:
    """Copy a stream into fd; (size, vsize or None)."""
    if not want_vsize:
        try:
            in_fd: int | None = source.fileno()
        except (AttributeError, OSError, ValueError):
            in_fd = None  # not a real file: stream it
        if in_fd is not None:
            size = 0
            try:  # from the stream's position on, which sendfile advances (no lseek to ask it)
                while sent := os.sendfile(fd, in_fd, None, BUFFER_SIZE):
                    size += sent
                return size, None
            except OSError as exc:
                if size or exc.errno not in _NO_SENDFILE_ERRNOS:
                    raise  # a half-written copy is not started again behind itself
    size = 0
    bare_lf = 0
    previous_cr = False
    while chunk := source.read(BUFFER_SIZE):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
        size += len(chunk)
        if want_vsize:
            bare_lf += _count_bare_lf(chunk, previous_cr)
            previous_cr = chunk.endswith(b"\r")
    return size, (size + bare_lf) if want_vsize else None


def write_body(body: Body, target: str, internal_date: int, vsize: int | None,
               owner: Owner | None) -> Written:
    """Write the body into an unnamed file on the filesystem of `target` (in tmp/), else to
    `target` itself; the file is given to `owner` unless that is None (see
    ownership.effective). The vsize is the given one, or counted while copying, or None for a
    hard link without one."""
    if body.path is not None:
        try:
            size = _try_link(body.path, target, internal_date)
        except OSError as exc:
            raise os_error(exc, target) from None
        if size is not None:
            return Written(size, vsize, None)
    written = write_unnamed(body, os.path.dirname(target), internal_date, vsize, owner)
    if written is not None:
        return written
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise os_error(exc, target) from None
    try:
        size, counted = _fill(fd, body, internal_date, vsize, owner)
    except BaseException as exc:
        os.close(fd)
        discard(target)
        if isinstance(exc, OSError):
            raise os_error(exc, target) from None
        raise
    os.close(fd)
    return Written(size, counted, None)


def write_unnamed(body: Body, directory: str, internal_date: int, vsize: int | None,
                  owner: Owner | None) -> Written | None:
    """The body in a new unnamed file on `directory`'s filesystem, held open; None when no
    unnamed file can be made now (see _Unnamed)."""
    try:
        fd = _unnamed.open(directory)
    except OSError as exc:
        raise os_error(exc, directory) from None
    if fd is None:
        return None
    try:
        size, counted = _fill(fd, body, internal_date, vsize, owner)
    except BaseException as exc:
        _unnamed.close(fd)
        if isinstance(exc, OSError):
            raise os_error(exc, directory) from None
        raise
    return Written(size, counted, fd)


def _fill(fd: int, body: Body, internal_date: int, vsize: int | None,
          owner: Owner | None) -> tuple[int, int | None]:
    """Copy the body into the new file `fd` and give it its owner and date; (size, vsize)."""
    if owner is not None:
        os.fchown(fd, owner[0], owner[1])
    with body.open() as source:
        size, counted = _copy(source, fd, want_vsize=vsize is None)
    if internal_date:
        os.utime(fd, (internal_date, internal_date))
    return size, vsize if vsize is not None else counted


def taken_over(fd: int) -> None:
    """An unnamed file's descriptor received from another process of the run: held here
    now, and counted as this process's own."""
    _unnamed.count(1)
