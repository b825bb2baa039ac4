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

A child may also offer parts of its own item to the others (`post`): a child with no item left
takes a part (waiting for one while others still work), does it and delivers an outcome, with
open file descriptors if it made any (they travel as SCM_RIGHTS through the parent); the poster
collects each outcome in its own order (`result_of`), or takes a part back that nobody has
started (`reclaim`) and does it itself. A part whose taker was lost is reported lost to its
poster, who does it again.

A child that ends without an outcome (killed, out of memory) is reported as a TemporaryError:
what it committed is on disk the store's crash-safe way, and a re-run finishes the rest.
Children get SIGTERM when the parent dies, so a killed dmf leaves no writer behind.
"""

import _pickle  # pickle.py only wraps it, and costs 1 ms of start-up to import
import _socket  # socket.py's classes and enums cost 2 ms of start-up; a socketpair needs none
import contextlib
import gc
import mmap
import os
import select
import struct
import sys
import time
from _signal import SIGTERM  # signal.py's enums cost 0.5 ms of start-up
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, NoReturn, TypeVar

from dmf.dsync.options import MailboxResult
from dmf.dsync.report import SyncReporter
from dmf.errors import DmfError, Scope, TemporaryError
from dmf.open_files import raise_soft_limit
from dmf.parent_death import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

# A child sends its reporter calls in batches: per message would cost a pickle and a write
# each; a batch waits at most FLUSH_SECONDS so that a progress bar keeps moving.
FLUSH_EVENTS = 256
FLUSH_SECONDS = 0.2
_REPLAYED = frozenset({"mailbox_started", "message_saved", "mailbox_done", "warn"})
_LENGTH = struct.Struct("!I")
_COUNT = struct.Struct("=I")
# Linux passes at most SCM_MAX_FD (253) descriptors in one message.
MAX_FDS = 253
_FD = struct.Struct("i")
_RIGHTS_SPACE = _socket.CMSG_SPACE(MAX_FDS * _FD.size)
# A read asks for at most this much: recvmsg allocates what it asks for, and a large outcome
# arrives a socket buffer at a time.
READ_BYTES = 256 * 1024


class Channel:
    """One side of the link between the parent and a child: a Unix stream socket carrying
    pickled messages, each behind its length, and with it open descriptors when a message has
    some. Not multiprocessing's Connection, whose import (tempfile, the whole multiprocessing
    package) cost 15-20 ms of every parallel run's start-up, and which carries no
    descriptors."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()

    def send(self, message: object, fds: Sequence[int] = ()) -> None:
        data = _pickle.dumps(message, -1)  # the highest protocol
        frame = memoryview(_LENGTH.pack(len(data)) + data)
        if fds:  # the descriptors ride with the frame's first bytes
            rights = struct.pack(f"{len(fds)}i", *fds)
            frame = frame[self.sock.sendmsg(
                [frame], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)]):]
        if frame:
            self.sock.sendall(frame)

    def recv(self) -> tuple[Any, list[int] | None]:
        """The next message and the descriptors that came with it: None when the kernel
        dropped some (this process has too many open; those that came are closed).
        EOFError once the other side is gone."""
        fds: list[int] = []
        truncated = False

        def read(size: int) -> bytes:
            nonlocal truncated
            chunks = []
            while size:
                try:
                    chunk, ancillary, flags, _ = self.sock.recvmsg(
                        min(size, READ_BYTES), _RIGHTS_SPACE)
                except ConnectionResetError:  # died with an answer of ours unread
                    raise EOFError from None
                for level, kind, data in ancillary:
                    if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                        fds.extend(number for (number,) in _FD.iter_unpack(
                            data[:len(data) - len(data) % _FD.size]))
                truncated = truncated or bool(flags & _socket.MSG_CTRUNC)
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                size -= len(chunk)
            return b"".join(chunks)

        (length,) = _LENGTH.unpack(read(_LENGTH.size))
        message = _pickle.loads(read(length))
        if truncated:
            _close_all(fds)
            return message, None
        return message, fds

    def send_quietly(self, message: object, fds: Sequence[int] = ()) -> None:
        """The parent's answer to a child that may have died meanwhile: its end of file,
        read next, settles what the child held."""
        with contextlib.suppress(OSError):
            self.send(message, fds)

    def close(self) -> None:
        self.sock.close()


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)


def _channels() -> tuple[Channel, Channel]:
    """(the parent's side, the child's side) of a new link."""
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    return Channel(ours), Channel(theirs)


class _Board:
    """A page shared by the parent and its children (mapped before the fork): how many
    children wait for work. A child offers parts only while some do, without asking the
    parent: a question costs a round trip, and the parent's turn on a CPU the children keep
    busy."""

    def __init__(self) -> None:
        self._page = mmap.mmap(-1, mmap.PAGESIZE)

    @property
    def waiting(self) -> int:
        return int(_COUNT.unpack_from(self._page)[0])

    @waiting.setter
    def waiting(self, count: int) -> None:
        _COUNT.pack_into(self._page, 0, count)


class Part(NamedTuple):
    """Work a child offered to the others: its number (for `deliver`) and payload."""

    number: int
    payload: Any


class PartResult(NamedTuple):
    """What the taker of a part delivered: its outcome and the descriptors sent with it."""

    outcome: Any
    fds: list[int]


class _ForwardingReporter:
    """A child's reporter: its calls travel to the parent's reporter."""

    def __init__(self, connection: Channel, per_message: bool) -> None:
        self._connection = connection
        self.per_message = per_message  # the parent's reporter's
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
        if self.per_message:
            self._add(("message_saved", name, size))

    def mailbox_done(self, result: MailboxResult) -> None:
        self._add(("mailbox_done", result))

    def warn(self, name: str, message: str) -> None:
        self._add(("warn", name, message))


class Link(Generic[T]):
    """A child's requests to the parent. Every request but `deliver` waits for its answer."""

    def __init__(self, items: Sequence[T], connection: Channel,
                 reporter: _ForwardingReporter, board: _Board) -> None:
        self._items = items
        self._connection = connection
        self._reporter = reporter
        self._board = board

    def idle(self) -> int:
        """How many other children wait for work now (a part offered would be taken)."""
        return self._board.waiting

    def _ask(self, kind: str, payload: object = None) -> tuple[str, Any, list[int] | None]:
        self._connection.send((kind, payload))
        (answered, answer), fds = self._connection.recv()
        return answered, answer, fds

    def take(self) -> T | Part | None:
        """The next item, else a part another child offered (waiting while one may come),
        else None."""
        _, answer, _ = self._ask("take")
        if answer is None:
            return None
        if isinstance(answer, Part):
            return answer
        return self._items[answer]

    def barrier(self) -> None:
        """Returns when every child still running has called it."""
        self._reporter.flush()
        self._ask("barrier")

    def post(self, payload: object) -> int:
        """Offer a part of this child's work; its number."""
        _, number, _ = self._ask("post", payload)
        return int(number)

    def reclaim(self, number: int) -> bool:
        """Take back a posted part; False when another child has taken it already."""
        _, taken_back, _ = self._ask("reclaim", number)
        return bool(taken_back)

    def result_of(self, number: int) -> PartResult | None:
        """Wait for a posted part's outcome; None when its taker was lost (or its descriptors
        were): the poster does the part itself."""
        self._reporter.flush()
        answered, outcome, fds = self._ask("await", number)
        if answered == "lost" or fds is None:
            _close_all(fds or [])
            return None
        return PartResult(outcome, fds)

    def deliver(self, number: int, outcome: object, fds: Sequence[int] = ()) -> None:
        """Hand a taken part's outcome (and descriptors, which this child may close after)
        to its poster."""
        self._connection.send(("deliver", (number, outcome)), fds)


def _sendable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a DmfError that names it."""
    try:
        _pickle.loads(_pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to pickle means: send a description
        return DmfError(f"{type(exc).__name__}: {exc}")
    return exc


Work = Callable[[Link[T], SyncReporter], R]


class Share(Generic[T, R]):
    """What one child did: the items it took, in order, and its outcome (or the exception
    that ended it, or a TemporaryError if it was lost)."""

    __slots__ = ("items", "outcome")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.outcome: R | BaseException | None = None


def _child(parent: int, items: Sequence[T], work: Work[T, R], connection: Channel,
           board: _Board, per_message: bool) -> NoReturn:
    code = 0
    try:
        die_with_parent(parent)
        reporter = _ForwardingReporter(connection, per_message)
        outcome: object
        try:
            outcome = work(Link(items, connection, reporter, board), reporter)
        except BaseException as exc:  # noqa: BLE001 - it goes to the parent, which raises it
            if not isinstance(exc, DmfError):  # a bug: -D shows where it happened
                import traceback  # only for a bug: start-up is spared it

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
        import signal  # only for a lost process's report

        how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        how = f"exit status {os.waitstatus_to_exitcode(status)}"
    return TemporaryError(f"the process syncing this mailbox ended without a result ({how}); "
                          "run again", scope=Scope.MAILBOX)


class _PartState:
    __slots__ = ("payload", "poster", "taker", "delivered", "lost", "awaited")

    def __init__(self, payload: Any, poster: int) -> None:
        self.payload = payload
        self.poster = poster  # the channel fd of the child that posted it
        self.taker: int | None = None
        self.delivered: PartResult | None = None
        self.lost = False
        self.awaited = False


# (poster's channel fd, what to answer it: the delivery, or None for a lost part)
_Answer = tuple[int, "PartResult | None"]


class _Parts:
    """The parent's book of posted parts: queued, taken, delivered or lost, until the poster
    collects them."""

    def __init__(self) -> None:
        self.states: dict[int, _PartState] = {}
        self.queue: deque[int] = deque()
        self._numbers = 0

    def post(self, poster: int, payload: object) -> int:
        self._numbers += 1
        self.states[self._numbers] = _PartState(payload, poster)
        self.queue.append(self._numbers)
        return self._numbers

    def take(self, taker: int) -> Part | None:
        while self.queue:
            number = self.queue.popleft()
            state = self.states.get(number)
            if state is not None:  # else reclaimed or dropped
                state.taker = taker
                return Part(number, state.payload)
        return None

    def reclaim(self, number: int) -> bool:
        state = self.states.get(number)
        if state is None or state.taker is not None:
            return False
        del self.states[number]
        return True

    def awaited(self, number: int) -> _Answer | None:
        """The poster asks for a part: the answer if there is one yet."""
        state = self.states[number]
        if state.delivered is None and not state.lost:
            state.awaited = True
            return None
        del self.states[number]
        return state.poster, state.delivered

    def delivered(self, number: int, result: PartResult | None) -> _Answer | None:
        """A taker delivers (None: its descriptors were cut on the way, the part is lost):
        the answer for a poster already waiting."""
        state = self.states.get(number)
        if state is None:  # its poster is gone
            if result is not None:
                _close_all(result.fds)
            return None
        if state.awaited:
            del self.states[number]
            return state.poster, result
        if result is None:
            state.lost = True
        else:
            state.delivered = result
        return None

    def ended(self, child: int) -> list[_Answer]:
        """A child is gone: parts it posted are dropped, parts it had taken are lost. The
        answers owed to posters waiting for those."""
        answers: list[_Answer] = []
        for number, state in list(self.states.items()):
            if state.poster == child:
                if state.delivered is not None:
                    _close_all(state.delivered.fds)
                del self.states[number]
            elif state.taker == child and state.delivered is None:
                state.lost = True
                if state.awaited:
                    del self.states[number]
                    answers.append((state.poster, None))
        return answers

    def close(self) -> None:
        for state in self.states.values():
            if state.delivered is not None:
                _close_all(state.delivered.fds)
        self.states.clear()


def run_forked(items: Sequence[T], processes: int, work: Work[T, R],
               reporter: SyncReporter) -> list[Share[T, R]]:
    """`work(link, reporter)` in `processes` children at once; `link.take()` hands out `items`
    in order, each to one child, then parts the children posted, then None (see Link for the
    rest). Items no child took (all ended early) are in no share."""
    sys.stdout.flush()
    sys.stderr.flush()
    raise_soft_limit()  # delivered parts' descriptors wait here for their posters
    parent = os.getpid()
    children: dict[int, tuple[Channel, Share[T, R], int]] = {}  # channel fd -> (it, share, pid)
    queue = iter(range(len(items)))
    parts = _Parts()
    board = _Board()
    finished: set[int] = set()

    def answer(owed: _Answer | None) -> None:
        if owed is None:
            return
        poster, result = owed
        if result is None:
            children[poster][0].send_quietly(("lost", None))
        else:
            children[poster][0].send_quietly(("part", result.outcome), result.fds)
            _close_all(result.fds)

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
                _child(parent, items, work, theirs, board, reporter.per_message)
            theirs.close()  # else a lost child's socket never reads EOF
            children[ours.fd] = (ours, Share(), pid)
        poller = select.poll()
        for fd in children:
            poller.register(fd, select.POLLIN)
        working = set(children)  # neither waiting for work, nor at the barrier, nor ended
        waiting: list[int] = []  # asked for work while others might still offer parts
        at_barrier: list[Channel] = []

        def give(fd: int) -> None:
            """Answer a take: an item, else a part (they cost their poster a relay, so only
            a child with nothing else to do helps), else wait while another child works (it
            may offer parts), else None, to every waiting child too."""
            index = next(queue, None)
            if index is not None:
                children[fd][1].items.append(items[index])
                children[fd][0].send_quietly(("item", index))
                return
            part = parts.take(fd)
            if part is not None:
                children[fd][0].send_quietly(("item", part))
                return
            waiting.append(fd)
            stopped(fd)

        def stopped(fd: int) -> None:
            """The child works no more (waits, is at the barrier or ended): when nobody does,
            no part can come any more, and the waiting children are told so."""
            working.discard(fd)
            if not working:
                for idle in waiting:
                    children[idle][0].send_quietly(("item", None))
                waiting.clear()

        pending = len(children)
        while pending:
            for fd, _events in poller.poll():
                connection, share, _pid = children[fd]
                try:
                    (kind, payload), fds = connection.recv()
                except EOFError:
                    poller.unregister(fd)
                    pending -= 1
                    for owed in parts.ended(fd):
                        answer(owed)
                    if fd in waiting:
                        waiting.remove(fd)
                    stopped(fd)
                    continue
                if kind == "events":
                    for name, *args in payload:
                        if name in _REPLAYED:
                            getattr(reporter, name)(*args)
                elif kind == "take":
                    give(fd)
                elif kind == "post":
                    connection.send_quietly(("posted", parts.post(fd, payload)))
                    if waiting:
                        idle = waiting.pop(0)
                        working.add(idle)
                        give(idle)  # the part just offered
                elif kind == "reclaim":
                    connection.send_quietly(("reclaim", parts.reclaim(payload)))
                elif kind == "await":
                    answer(parts.awaited(payload))
                elif kind == "deliver":
                    number, outcome = payload
                    answer(parts.delivered(
                        number, None if fds is None else PartResult(outcome, fds)))
                elif kind == "barrier":
                    at_barrier.append(connection)
                    stopped(fd)
                else:
                    share.outcome = payload
                    finished.add(fd)
                    stopped(fd)
            board.waiting = len(waiting)
            if at_barrier and len(at_barrier) == pending:
                for connection in at_barrier:
                    connection.send_quietly(("go", None))
                at_barrier.clear()
    except BaseException:
        for _link, _share, pid in children.values():
            os.kill(pid, SIGTERM)
        raise
    finally:
        gc.unfreeze()
        parts.close()
        for fd, (connection, share, pid) in children.items():
            _, status = os.waitpid(pid, 0)
            connection.close()
            if fd not in finished:
                share.outcome = _lost(status)
    return [share for _link, share, _pid in children.values()]
