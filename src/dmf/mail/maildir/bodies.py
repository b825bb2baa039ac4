"""Writing a message body into `tmp/`: hard link when the engine hands us a file on the same
filesystem with the same date, else a streamed copy with large buffers (sendfile from a real
file). The file gets the message's internal date as its mtime; fsync is left to the batch."""

from __future__ import annotations

import errno
import os
from typing import BinaryIO

from dmf.mail.maildir.atomic import discard, os_error
from dmf.mail.maildir.ownership import Owner
from dmf.mail.storage import Body

BUFFER_SIZE = 1 << 20


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
            in_fd = source.fileno()
            offset = source.tell()
            size = 0
            while sent := os.sendfile(fd, in_fd, offset + size, BUFFER_SIZE):
                size += sent
            return size, None
        except (AttributeError, OSError, ValueError):
            pass  # not a real file: stream it
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
               owner: Owner | None) -> tuple[int, int | None]:
    """Write the body to `target` (in tmp/), giving the new file to `owner` unless that is
    None (see ownership.effective). Returns (size, vsize); vsize is the given one, or counted
    while copying, or None for a hard link without one."""
    try:
        if body.path is not None:
            size = _try_link(body.path, target, internal_date)
            if size is not None:
                return size, vsize
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if owner is not None:
                os.fchown(fd, owner[0], owner[1])
            with body.open() as source:
                size, counted = _copy(source, fd, want_vsize=vsize is None)
            if internal_date:
                os.utime(fd, (internal_date, internal_date))
        finally:
            os.close(fd)
    except OSError as exc:
        discard(target)
        raise os_error(exc, target) from None
    except BaseException:
        discard(target)
        raise
    return size, vsize if vsize is not None else counted
