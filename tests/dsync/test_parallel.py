"""run_forked with real forked processes: every item taken exactly once, in order, by whichever
child asks first; outcomes and errors carried back with their scope, a lost child reported as a
temporary failure with the items it took, reporter calls replayed in the parent, and a barrier
that no child passes before all have reached it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from dmf.dsync.options import MailboxResult
from dmf.dsync.parallel import Share, run_forked
from dmf.dsync.report import SyncReporter
from dmf.errors import NotFoundError, Scope, TemporaryError


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def mailbox_started(self, name: str, to_save: int) -> None:
        self.calls.append(("started", name, to_save))

    def message_saved(self, name: str, size: int) -> None:
        self.calls.append(("saved", name, size))

    def mailbox_done(self, result: MailboxResult) -> None:
        self.calls.append(("done", result.name, result.saved))

    def warn(self, name: str, message: str) -> None:
        self.calls.append(("warn", name, message))


Take = Callable[[], object]


def test_every_item_is_taken_once_in_order_with_the_children_reports() -> None:
    def work(take: Take, reporter: SyncReporter, barrier: Callable[[], None]) -> int:
        while (name := take()) is not None:
            assert isinstance(name, str)
            reporter.mailbox_started(name, 3)
            for size in range(3):
                reporter.message_saved(name, size)
            reporter.mailbox_done(MailboxResult(name=name, saved=3))
        return os.getpid()

    recorder = Recorder()
    items = [f"box{number}" for number in range(12)]
    shares = run_forked(items, 3, work, recorder)
    assert len(shares) == 3
    pids = {share.outcome for share in shares}
    assert len(pids) == 3 and os.getpid() not in pids
    taken = [item for share in shares for item in share.items]
    assert sorted(taken) == sorted(items)  # each once
    for share in shares:  # each child took its items in the given order
        assert share.items == sorted(share.items, key=items.index)
    for name in items:
        mine = [call for call in recorder.calls if call[1] == name]
        assert mine == [("started", name, 3), ("saved", name, 0), ("saved", name, 1),
                        ("saved", name, 2), ("done", name, 3)]


def test_a_child_that_is_busy_leaves_the_next_items_to_the_others() -> None:
    def work(take: Take, reporter: SyncReporter, barrier: Callable[[], None]) -> None:
        while (seconds := take()) is not None:
            assert isinstance(seconds, float)
            time.sleep(seconds)

    shares = run_forked([1.0, 0.01, 0.01, 0.01, 0.01], 2, work, Recorder())
    busy = next(share for share in shares if 1.0 in share.items)
    assert busy.items == [1.0]  # the small ones went to the other child meanwhile


def test_errors_keep_their_class_and_scope_and_a_lost_child_is_temporary() -> None:
    class Unpicklable(Exception):
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("no")

    def work(take: Take, reporter: SyncReporter, barrier: Callable[[], None]) -> str:
        item = take()
        if item == "missing":
            raise NotFoundError("mailbox Gone does not exist", scope=Scope.MAILBOX)
        if item == "bug":
            raise Unpicklable("odd state")
        if item == "lost":
            os._exit(3)
        barrier()  # nobody takes a second item before each has its first
        return "fine"

    shares = run_forked(["missing", "bug", "lost", "ok"], 4, work, Recorder())
    outcomes = {share.items[0]: share.outcome for share in shares}
    missing, bug, lost = outcomes["missing"], outcomes["bug"], outcomes["lost"]
    assert isinstance(missing, NotFoundError) and missing.scope is Scope.MAILBOX
    assert str(missing) == "mailbox Gone does not exist"
    assert "Unpicklable: odd state" in str(bug)
    assert isinstance(lost, TemporaryError) and lost.scope is Scope.MAILBOX
    assert "ended without a result (exit status 3)" in str(lost)
    assert outcomes["ok"] == "fine"


def test_items_nobody_took_are_in_no_share() -> None:
    def work(take: Take, reporter: SyncReporter, barrier: Callable[[], None]) -> None:
        take()
        os._exit(1)

    shares = run_forked(["a", "b", "c", "d"], 2, work, Recorder())
    assert sorted(item for share in shares for item in share.items) == ["a", "b"]
    assert all(isinstance(share.outcome, TemporaryError) for share in shares)


def test_no_child_passes_the_barrier_before_every_child_reached_it() -> None:
    def work(take: Take, reporter: SyncReporter, barrier: Callable[[], None]) -> tuple[
            float, float]:
        seconds = take()
        assert isinstance(seconds, float)
        time.sleep(seconds)  # the slow child arrives late: the fast ones must wait for it
        arrived = time.monotonic()
        barrier()
        return arrived, time.monotonic()

    shares = run_forked([0.0, 0.3, 0.0], 3, work, Recorder())
    outcomes: list[tuple[float, float]] = [share.outcome for share in shares]  # type: ignore[misc]
    last_arrival = max(arrived for arrived, _left in outcomes)
    assert all(left >= last_arrival for _arrived, left in outcomes)


def test_a_child_that_ended_does_not_hold_the_others_at_the_barrier() -> None:
    def work(take: Take, reporter: SyncReporter, barrier: Callable[[], None]) -> str:
        if take() == "fails":
            raise TemporaryError("disk full", scope=Scope.STORE)
        barrier()
        return "passed"

    shares: list[Share[str, str]] = run_forked(["fails", "waits", "waits"], 3, work,
                                               Recorder())
    outcomes = {share.items[0]: share.outcome for share in shares if share.items[0] == "fails"}
    assert isinstance(outcomes["fails"], TemporaryError)
    assert [share.outcome for share in shares if share.items[0] == "waits"] == \
        ["passed", "passed"]


def test_an_outcome_larger_than_a_pipe_holds_arrives_whole() -> None:
    """A run over many mailboxes sends back results far beyond the pipe's 64 KiB buffer: the
    parent reads while the child writes, and nothing is cut or mixed between children."""
    def work(take: Take, reporter: SyncReporter, barrier: Callable[[], None]) -> bytes:
        taken = []
        while (item := take()) is not None:
            assert isinstance(item, int)
            taken.append(item)
            reporter.message_saved(f"box{item}", item)
        return bytes([taken[0] % 256]) * (3 << 20) if taken else b""

    recorder = Recorder()
    shares = run_forked(list(range(40)), 3, work, recorder)
    for share in shares:
        if share.items:
            assert share.outcome == bytes([share.items[0] % 256]) * (3 << 20)
    assert sorted(call[2] for call in recorder.calls) == list(range(40))
