"""Runs the message steps of a sync over groups of mailboxes in forked processes, a group each.

Why processes: a local copy spends about as long in Python as in the kernel, and one
interpreter keeps one core busy. Children are forked after planning, so they inherit the plans
and the open stores without any pickling; what comes back is small: the group's outcome (or
the exception that ended it) and the reporter's calls, replayed in the parent so that progress
bar, -v and -D lines come out of one process in a sensible order. A child may wait at a
barrier until every other child has reached it (or ended): the engine's early and late steps
keep their order across processes that way.

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
from multiprocessing.connection import Connection, Pipe, wait
from typing import Any, NoReturn, TypeVar

from dmf.dsync.options import MailboxResult
from dmf.dsync.report import SyncReporter
from dmf.errors import DmfError, Scope, TemporaryError
from dmf.parent_death import die_with_parent

G = TypeVar("G")
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


def _child(parent: int, group: G, work: Callable[[G, SyncReporter, Barrier], R],
           connection: Connection) -> NoReturn:
    code = 0
    try:
        die_with_parent(parent)
        reporter = _ForwardingReporter(connection)

        def barrier() -> None:
            reporter.flush()
            connection.send(("barrier", None))
            connection.recv()  # the parent answers when all are there

        outcome: object
        try:
            outcome = work(group, reporter, barrier)
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


def run_forked(groups: Sequence[G], work: Callable[[G, SyncReporter, Barrier], R],
               reporter: SyncReporter) -> list[R | BaseException]:
    """`work(group, reporter, barrier)` for each group in a child of its own, all at once; per
    group its return value, or the exception it raised, or a TemporaryError if the child was
    lost. `barrier()` returns once every child still running has called it."""
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    children: dict[Connection, tuple[int, int]] = {}  # our end -> (group index, pid)
    outcomes: dict[int, R | BaseException] = {}
    try:
        for index, group in enumerate(groups):
            ours, theirs = Pipe()
            try:
                pid = os.fork()
            except OSError as exc:  # the ones started are stopped below; a re-run finishes
                raise TemporaryError(f"cannot start a sync process: {exc.strerror}") from None
            if pid == 0:
                ours.close()
                _child(parent, group, work, theirs)
            theirs.close()  # else later children inherit it and a lost child never reads EOF
            children[ours] = (index, pid)
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
                if kind == "events":
                    for name, *args in payload:
                        if name in _REPLAYED:
                            getattr(reporter, name)(*args)
                elif kind == "barrier":
                    at_barrier.append(connection)
                else:
                    outcomes[children[connection][0]] = payload
            if at_barrier and len(at_barrier) == len(pending):
                for connection in at_barrier:
                    connection.send(("go", None))
                at_barrier.clear()
    except BaseException:
        for _index, pid in children.values():
            os.kill(pid, signal.SIGTERM)
        raise
    finally:
        for connection, (index, pid) in children.items():
            _, status = os.waitpid(pid, 0)
            connection.close()
            if index not in outcomes:
                outcomes[index] = _lost(status)
    return [outcomes[index] for index in range(len(groups))]
