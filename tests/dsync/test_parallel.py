"""run_forked with real forked processes: outcomes in group order, errors carried back with
their scope, a lost child reported as a temporary failure, reporter calls replayed in the
parent, and a barrier that no child passes before all have reached it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from dmf.dsync.options import MailboxResult
from dmf.dsync.parallel import run_forked
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


def test_outcomes_come_back_in_group_order_with_the_children_reports() -> None:
    def work(group: str, reporter: SyncReporter, barrier: Callable[[], None]) -> tuple[str, int]:
        reporter.mailbox_started(group, 3)
        for size in range(3):
            reporter.message_saved(group, size)
        reporter.mailbox_done(MailboxResult(name=group, saved=3))
        return group, os.getpid()

    recorder = Recorder()
    outcomes = run_forked(["a", "b", "c"], work, recorder)
    assert [name for name, _pid in outcomes] == ["a", "b", "c"]  # type: ignore[misc]
    pids = {pid for _name, pid in outcomes}  # type: ignore[misc]
    assert len(pids) == 3 and os.getpid() not in pids
    for name in "abc":
        mine = [call for call in recorder.calls if call[1] == name]
        assert mine == [("started", name, 3), ("saved", name, 0), ("saved", name, 1),
                        ("saved", name, 2), ("done", name, 3)]


def test_errors_keep_their_class_and_scope_and_a_lost_child_is_temporary() -> None:
    class Unpicklable(Exception):
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("no")

    def work(group: str, reporter: SyncReporter, barrier: Callable[[], None]) -> str:
        if group == "missing":
            raise NotFoundError("mailbox Gone does not exist", scope=Scope.MAILBOX)
        if group == "bug":
            raise Unpicklable("odd state")
        if group == "lost":
            os._exit(3)
        return "fine"

    outcomes = run_forked(["missing", "bug", "lost", "ok"], work, Recorder())
    missing, bug, lost, ok = outcomes
    assert isinstance(missing, NotFoundError) and missing.scope is Scope.MAILBOX
    assert str(missing) == "mailbox Gone does not exist"
    assert "Unpicklable: odd state" in str(bug)
    assert isinstance(lost, TemporaryError) and lost.scope is Scope.MAILBOX
    assert "ended without a result (exit status 3)" in str(lost)
    assert ok == "fine"


def test_no_child_passes_the_barrier_before_every_child_reached_it() -> None:
    def work(group: float, reporter: SyncReporter, barrier: Callable[[], None]) -> tuple[
            float, float]:
        time.sleep(group)  # the slow child arrives late: the fast one must wait for it
        arrived = time.monotonic()
        barrier()
        return arrived, time.monotonic()

    outcomes = run_forked([0.0, 0.3, 0.0], work, Recorder())
    last_arrival = max(arrived for arrived, _left in outcomes)  # type: ignore[misc]
    assert all(left >= last_arrival for _arrived, left in outcomes)  # type: ignore[misc]


def test_a_child_that_ended_does_not_hold_the_others_at_the_barrier() -> None:
    def work(group: str, reporter: SyncReporter, barrier: Callable[[], None]) -> str:
        if group == "fails":
            raise TemporaryError("disk full", scope=Scope.STORE)
        barrier()
        return "passed"

    outcomes = run_forked(["fails", "waits", "waits"], work, Recorder())
    assert isinstance(outcomes[0], TemporaryError) and outcomes[1:] == ["passed", "passed"]
