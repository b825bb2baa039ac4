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

import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait
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


class _ForwardingReporter:
    """A child's reporter: its calls travel to the parent's reporter."""

    def __init__(self, connection: Connection) -> None:
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
           connection: Connection) -> NoReturn:
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
    children: dict[Connection, tuple[Share[T, R], int]] = {}  # our end -> (its share, pid)
    queue = iter(range(len(items)))
    finished: set[Connection] = set()
    try:
        for _ in range(processes):
            ours, theirs = Pipe()
            try:
                pid = os.fork()
            except OSError as exc:  # the ones started are stopped below; a re-run finishes
                raise TemporaryError(f"cannot start a sync process: {exc.strerror}") from None
            if pid == 0:
                ours.close()
                _child(parent, items, work, theirs)
            theirs.close()  # else later children inherit it and a lost child never reads EOF
            children[ours] = (Share(), pid)
        pending = list(children)
        at_barrier: list[Connection] = []
        while pending:
            for ready in wait(pending):
                connection: Connection = ready  # type: ignore[assignment]
                try:
                    kind, payload = connection.recv()
                except EOFError:
                    pending.remove(connection)
                    continue
                share = children[connection][0]
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
                    finished.add(connection)
            if at_barrier and len(at_barrier) == len(pending):
                for connection in at_barrier:
                    connection.send(("go", None))
                at_barrier.clear()
    except BaseException:
        for _share, pid in children.values():
            os.kill(pid, signal.SIGTERM)
        raise
    finally:
        for connection, (share, pid) in children.items():
            _, status = os.waitpid(pid, 0)
            connection.close()
            if connection not in finished:
                share.outcome = _lost(status)
    return [share for share, _pid in children.values()]
