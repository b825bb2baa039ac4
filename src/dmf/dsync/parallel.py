"""Runs the message steps of a sync in forked processes that share out the mailboxes.

Why processes: listing and copying spend about as long in Python as in the kernel, and one
interpreter keeps one core busy. The children inherit the list of work items and the open
stores by the fork, without any pickling, and take the items one at a time from the parent in
its order (largest first), so a process that finished early takes the next one: no estimate of
the work has to be right in advance. What comes back is small: each child's outcome (or the
exception that ended it) and the reporter's calls, replayed in the parent so that progress bar,
-v and -D lines come out of one process in a sensible order. A child may wait at a barrier until
every other child has reached it (or ended): the engine's early and late steps keep their order
across processes that way.

A child that ends without an outcome (killed, out of memory) is reported as a TemporaryError:
what it committed is on disk the store's crash-safe way, and a re-run finishes the rest.
Children get SIGTERM when the parent dies, so a killed dmf leaves no writer behind.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, TypeVar

from dmf.dsync.options import MailboxResult
from dmf.dsync.report import SyncReporter
from dmf.errors import DmfError, Scope, TemporaryError
from dmf.parent_death import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

# A child sends its reporter calls in batches: per message would cost a pickle and a write
# each; a batch waits at most FLUSH_SECONDS so that a progress bar keeps moving.
FLUSH_EVENTS = 256
FLUSH_SECONDS = 0.2
_REPLAYED = frozenset({"mailbox_started", "message_saved", "mailbox_done", "warn"})
_LENGTH = struct.Struct("!I")


class Channel:
    """One side of the link between the parent and a child: a pipe each way carrying pickled
    messages, each behind its length. Plain pipes rather than multiprocessing's Connection,
    whose import (tempfile, socket, the whole multiprocessing package) cost 15-20 ms of every
    parallel run's start-up."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd

    def send(self, message: object) -> None:
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        view = memoryview(_LENGTH.pack(len(data)) + data)
        while view:
            view = view[os.write(self.write_fd, view):]

    def recv(self) -> Any:
        """The next message; EOFError once the other side is gone."""
        (length,) = _LENGTH.unpack(self._read(_LENGTH.size))
        return pickle.loads(self._read(length))

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.read_fd, size)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


def _channels() -> tuple[Channel, Channel]:
    """(the parent's side, the child's side) of a new link."""
    to_parent_read, to_parent_write = os.pipe()
    to_child_read, to_child_write = os.pipe()
    return Channel(to_parent_read, to_child_write), Channel(to_child_read, to_parent_write)


class _ForwardingReporter:
    """A child's reporter: its calls travel to the parent's reporter."""

    def __init__(self, connection: Channel) -> None:
        self._connection = connection
        self._events: list[tuple[Any, ...]] = []
        self._sent = time.monotonic()

    def _add(self, event: tuple[Any, ...]) -> None:
        self._events.append(event)
        if len(self._events) >= FLUSH_EVENTS or time.monotonic() - self._sent >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._events:
            self._connection.send(("events", self._events))
            self._events = []
        self._sent = time.monotonic()

    def mailbox_started(self, name: str, to_save: int) -> None:
        self._add(("mailbox_started", name, to_save))

    def message_saved(self, name: str, size: int) -> None:
        self._add(("message_saved", name, size))

    def mailbox_done(self, result: MailboxResult) -> None:
        self._add(("mailbox_done", result))

    def warn(self, name: str, message: str) -> None:
        self._add(("warn", name, message))


def _sendable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a DmfError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to pickle means: send a description
        return DmfError(f"{type(exc).__name__}: {exc}")
    return exc


Barrier = Callable[[], None]
Work = Callable[[Callable[[], "T | None"], SyncReporter, Barrier], R]


@dataclass
class Share(Generic[T, R]):
    """What one child did: the items it took, in order, and its outcome (or the exception
    that ended it, or a TemporaryError if it was lost)."""

    items: list[T] = field(default_factory=list)
    outcome: R | BaseException | None = None


def _child(parent: int, items: Sequence[T], work: Work[T, R],
           connection: Channel) -> NoReturn:
    code = 0
    try:
        die_with_parent(parent)
        reporter = _ForwardingReporter(connection)

        def take() -> T | None:
            connection.send(("take", None))
            _, index = connection.recv()
            return None if index is None else items[index]

        def barrier() -> None:
            reporter.flush()
            connection.send(("barrier", None))
            connection.recv()  # the parent answers when all are there

        outcome: object
        try:
            outcome = work(take, reporter, barrier)
        except BaseException as exc:  # noqa: BLE001 - it goes to the parent, which raises it
            if not isinstance(exc, DmfError):  # a bug: -D shows where it happened
                exc.add_note("in a sync process:\n" + "".join(traceback.format_exception(exc)))
            outcome = _sendable(exc)
        reporter.flush()
        connection.send(("outcome", outcome))
    except BaseException:  # noqa: BLE001 - the parent sees no outcome and reports the loss
        code = 1
    finally:
        os._exit(code)  # never the parent's cleanup (locks, open boxes) in a child


def _lost(status: int) -> TemporaryError:
    if os.WIFSIGNALED(status):
        how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        how = f"exit status {os.waitstatus_to_exitcode(status)}"
    return TemporaryError(f"the process syncing this mailbox ended without a result ({how}); "
                          "run again", scope=Scope.MAILBOX)


def run_forked(items: Sequence[T], processes: int, work: Work[T, R],
               reporter: SyncReporter) -> list[Share[T, R]]:
    """`work(take, reporter, barrier)` in `processes` children at once; `take()` hands out
    `items` in order, each to one child, then None. `barrier()` returns once every child still
    running has called it. Items no child took (all ended early) are in no share."""
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    children: dict[int, tuple[Channel, Share[T, R], int]] = {}  # read fd -> (link, share, pid)
    queue = iter(range(len(items)))
    finished: set[int] = set()
    # The children inherit the parent's objects: frozen, their collections never visit (and
    # so never copy) the pages those live on.
    gc.freeze()
    try:
        for _ in range(processes):
            ours, theirs = _channels()
            try:
                pid = os.fork()
            except OSError as exc:  # the ones started are stopped below; a re-run finishes
                ours.close()
                theirs.close()
                raise TemporaryError(f"cannot start a sync process: {exc.strerror}") from None
            if pid == 0:
                for link, _share, _pid in children.values():  # the other children's links
                    link.close()
                ours.close()
                _child(parent, items, work, theirs)
            theirs.close()  # else a lost child's pipe never reads EOF
            children[ours.read_fd] = (ours, Share(), pid)
        poller = select.poll()
        for fd in children:
            poller.register(fd, select.POLLIN)
        pending = len(children)
        at_barrier: list[Channel] = []
        while pending:
            for fd, _events in poller.poll():
                connection, share, _pid = children[fd]
                try:
                    kind, payload = connection.recv()
                except EOFError:
                    poller.unregister(fd)
                    pending -= 1
                    continue
                if kind == "events":
                    for name, *args in payload:
                        if name in _REPLAYED:
                            getattr(reporter, name)(*args)
                elif kind == "take":
                    index = next(queue, None)
                    if index is not None:
                        share.items.append(items[index])
                    connection.send(("item", index))
                elif kind == "barrier":
                    at_barrier.append(connection)
                else:
                    share.outcome = payload
                    finished.add(fd)
            if at_barrier and len(at_barrier) == pending:
                for connection in at_barrier:
                    connection.send(("go", None))
                at_barrier.clear()
    except BaseException:
        for _link, _share, pid in children.values():
            os.kill(pid, signal.SIGTERM)
        raise
    finally:
        gc.unfreeze()
        for fd, (connection, share, pid) in children.items():
            _, status = os.waitpid(pid, 0)
            connection.close()
            if fd not in finished:
                share.outcome = _lost(status)
    return [share for _link, share, _pid in children.values()]
