"""run_forked with real forked processes: every item taken exactly once, in order, by whichever
child asks first; outcomes and errors carried back with their scope, a lost child reported as a
temporary failure with the items it took, reporter calls replayed in the parent, and a barrier
that no child passes before all have reached it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from dmf.dsync.options import MailboxResult
from dmf.dsync.parallel import Link, Part, Share, run_forked
from dmf.dsync.report import SyncReporter
from dmf.errors import NotFoundError, Scope, TemporaryError


class Recorder:
    def __init__(self, per_message: bool = True) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.per_message = per_message

    def mailbox_started(self, name: str, to_save: int) -> None:
        self.calls.append(("started", name, to_save))

    def message_saved(self, name: str, size: int) -> None:
        self.calls.append(("saved", name, size))

    def mailbox_done(self, result: MailboxResult) -> None:
        self.calls.append(("done", result.name, result.saved))

    def warn(self, name: str, message: str) -> None:
        self.calls.append(("warn", name, message))


def test_every_item_is_taken_once_in_order_with_the_children_reports() -> None:
    def work(link: Link[Any], reporter: SyncReporter) -> int:
        while (name := link.take()) is not None:
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


def test_message_calls_stay_in_the_child_when_the_reporter_shows_none() -> None:
    def work(link: Link[Any], reporter: SyncReporter) -> bool:
        while (name := link.take()) is not None:
            assert isinstance(name, str)
            reporter.mailbox_started(name, 2)
            reporter.message_saved(name, 1)
            reporter.message_saved(name, 2)
            reporter.mailbox_done(MailboxResult(name=name, saved=2))
        return reporter.per_message

    recorder = Recorder(per_message=False)
    shares = run_forked(["a", "b", "c"], 2, work, recorder)
    assert [share.outcome for share in shares] == [False, False]
    assert sorted(recorder.calls) == [("done", name, 2) for name in "abc"] + [
        ("started", name, 2) for name in "abc"]


def test_a_child_that_is_busy_leaves_the_next_items_to_the_others() -> None:
    def work(link: Link[Any], reporter: SyncReporter) -> None:
        while (seconds := link.take()) is not None:
            assert isinstance(seconds, float)
            time.sleep(seconds)

    shares = run_forked([1.0, 0.01, 0.01, 0.01, 0.01], 2, work, Recorder())
    busy = next(share for share in shares if 1.0 in share.items)
    assert busy.items == [1.0]  # the small ones went to the other child meanwhile


def test_errors_keep_their_class_and_scope_and_a_lost_child_is_temporary() -> None:
    class Unpicklable(Exception):
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("no")

    def work(link: Link[Any], reporter: SyncReporter) -> str:
        item = link.take()
        if item == "missing":
            raise NotFoundError("mailbox Gone does not exist", scope=Scope.MAILBOX)
        if item == "bug":
            raise Unpicklable("odd state")
        if item == "lost":
            os._exit(3)
        link.barrier()  # nobody takes a second item before each has its first
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
    def work(link: Link[Any], reporter: SyncReporter) -> None:
        link.take()
        os._exit(1)

    shares = run_forked(["a", "b", "c", "d"], 2, work, Recorder())
    assert sorted(item for share in shares for item in share.items) == ["a", "b"]
    assert all(isinstance(share.outcome, TemporaryError) for share in shares)


def test_no_child_passes_the_barrier_before_every_child_reached_it() -> None:
    def work(link: Link[Any], reporter: SyncReporter) -> tuple[
            float, float]:
        seconds = link.take()
        assert isinstance(seconds, float)
        time.sleep(seconds)  # the slow child arrives late: the fast ones must wait for it
        arrived = time.monotonic()
        link.barrier()
        return arrived, time.monotonic()

    shares = run_forked([0.0, 0.3, 0.0], 3, work, Recorder())
    outcomes: list[tuple[float, float]] = [share.outcome for share in shares]  # type: ignore[misc]
    last_arrival = max(arrived for arrived, _left in outcomes)
    assert all(left >= last_arrival for _arrived, left in outcomes)


def test_a_child_that_ended_does_not_hold_the_others_at_the_barrier() -> None:
    def work(link: Link[Any], reporter: SyncReporter) -> str:
        if link.take() == "fails":
            raise TemporaryError("disk full", scope=Scope.STORE)
        link.barrier()
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
    def work(link: Link[Any], reporter: SyncReporter) -> bytes:
        taken = []
        while (item := link.take()) is not None:
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


def test_parts_one_child_offers_are_done_by_the_others_with_their_open_files(
        tmp_path: Path) -> None:
    """The split of a big mailbox: the child that took it offers parts; the others, which
    found no item left, wait for them instead of stopping, write an unnamed file each and
    deliver it; the offering child gets each outcome with a working descriptor, in its own
    order, or takes a part back that nobody started."""
    def work(link: Link[Any], reporter: SyncReporter) -> tuple[str, list[object]]:
        done: list[object] = []
        while (taken := link.take()) is not None:
            if isinstance(taken, Part):
                fd = os.open(tmp_path, os.O_RDWR | os.O_TMPFILE, 0o600)
                os.write(fd, b"part %d by %d" % (taken.payload, os.getpid()))
                link.deliver(taken.number, taken.payload * 10, [fd])
                os.close(fd)  # the offering child holds the file now
                done.append(taken.payload)
                continue
            numbers = [link.post(part) for part in range(1, 7)]
            time.sleep(0.5)  # the others, forked with this one, are waiting for work by now
            results: list[object] = []
            for part, number in enumerate(numbers, start=1):
                if link.reclaim(number):
                    results.append(("mine", part))
                    continue
                delivered = link.result_of(number)
                assert delivered is not None and len(delivered.fds) == 1
                (fd,) = delivered.fds
                results.append((delivered.outcome, os.pread(fd, 100, 0).decode()))
                os.close(fd)
            return "owner", results
        return "helper", done

    shares = run_forked(["the big mailbox"], 3, work, Recorder())
    roles = {share.outcome[0]: share for share in shares if isinstance(share.outcome, tuple)}
    owner = roles["owner"]
    assert owner.items == ["the big mailbox"] and len(shares) == 3
    helpers = [share.outcome[1] for share in shares if share.outcome[0] == "helper"]
    by_helpers = sorted(part for done in helpers for part in done)
    mine = [result[1] for result in owner.outcome[1] if result[0] == "mine"]
    assert sorted(by_helpers + mine) == [1, 2, 3, 4, 5, 6]  # each part done once
    assert by_helpers  # the waiting children were given parts
    for result in owner.outcome[1]:
        if result[0] != "mine":
            outcome, text = result
            assert text.startswith(f"part {outcome // 10} by ")
            assert int(text.split()[-1]) != os.getpid()


def test_a_part_whose_taker_is_lost_goes_back_to_the_child_that_offered_it() -> None:
    def work(link: Link[Any], reporter: SyncReporter) -> object:
        taken = link.take()
        if isinstance(taken, Part):
            os.kill(os.getpid(), signal.SIGKILL)  # dies holding the part
        if taken is None:
            return "nothing"
        while True:  # until the other child, once it waits for work, has taken it
            number = link.post("doomed")
            time.sleep(0.05)
            if not link.reclaim(number):
                return link.result_of(number)  # None: do it yourself

    shares = run_forked(["mailbox"], 2, work, Recorder())
    outcomes = sorted((share.outcome for share in shares), key=repr)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], TemporaryError)


def test_a_child_that_dies_with_an_answer_unread_is_lost_not_a_crash_of_the_parent() -> None:
    """A Unix socket whose reader died with data unread gives the writer ECONNRESET, not end of
    file: a process killed right after a request is still only a lost child."""
    def work(link: Link[Any], reporter: SyncReporter) -> str:
        if link.take() == "dies":
            link._connection.send(("post", "a part"))  # the parent answers; nobody reads it
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
        return "lived"

    shares = run_forked(["dies", "lives"], 2, work, Recorder())
    outcomes = {type(share.outcome).__name__ for share in shares}
    assert outcomes == {"TemporaryError", "str"}
