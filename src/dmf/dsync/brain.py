"""Drives one user's one-way backup: lock, tree, messages mailbox by mailbox, result.

Fast mode (the default) lists a mailbox's messages only when its cheap metadata differs between
the sides: HIGHESTMODSEQ where both stores keep modseqs, else UIDVALIDITY, UIDNEXT and the
stores' summaries (message count and flag histogram, read without per-message I/O). As with
doveadm, equal metadata after different changes on both sides can hide a change; `-f` lists
every mailbox.

Order of a run, chosen so that nothing held on the destination is thrown away before it could
serve as a local copy: (1) settle the tree (renames, creates), (2) list the destination side of
every mailbox that may differ and index the GUIDs it holds, (3) for every such mailbox: list
its source side, plan, then the saves into free UIDs and the flag changes, (4) for every
mailbox the expunges, the saves into freed UIDs and the UID state, (5) delete mailboxes the
source lacks, (6) subscriptions, (7) the new `-s` state.

Step (3) and (4) may run in several forked processes (`SyncOptions.processes`, stores with
FORK_SAFE) that take whole mailboxes one at a time, largest first (`parallel.py`), so the
source listing is shared out as well as the writing; a big mailbox's bodies are written by the
others too, while the process that took it commits them (`mailbox_parts.py`, STAGED_BODIES). A
process waits for the others between the two steps, so the order above holds; the parent merges
their results.

A mailbox- or message-scoped error is recorded in that mailbox's result and the run goes on; at
the end the first such error is raised again (its class gives the exit code) carrying the
whole `SyncResult` as `sync_result`. A store-scoped error stops the run at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import TYPE_CHECKING, NamedTuple

from dmf.dsync import apply, mailbox_parts
from dmf.dsync.masks import MailboxSelection
from dmf.dsync.options import MailboxResult, SyncMode, SyncOptions, SyncResult
from dmf.dsync.plan import DateWindow, LocalCopy, MailboxPlan, Save, plan_mailbox, unchanged
from dmf.dsync.report import SilentReporter, SyncReporter
from dmf.dsync.tree import INBOX, TreePlan, plan_tree
from dmf.errors import DmfError, NotPossibleError, Scope, TemporaryError
from dmf.mail.model import MailboxMeta, MessageMeta
from dmf.mail.storage import Capability, Mailbox, Storage

if TYPE_CHECKING:  # the -s state's codec, and parallel runs, are imported only when used
    from dmf.dsync.parallel import Link
    from dmf.dsync.state import SyncState


class _MailboxWork:
    """One source mailbox and its destination twin for the length of a run."""

    __slots__ = ("source_meta", "dest_meta", "result", "source_box", "dest_box",
                 "dest_messages", "source_count", "plan", "failed")

    def __init__(self, source_meta: MailboxMeta, dest_meta: MailboxMeta,
                 result: MailboxResult) -> None:
        self.source_meta = source_meta
        self.dest_meta = dest_meta
        self.result = result
        self.source_box: Mailbox | None = None
        self.dest_box: Mailbox | None = None
        self.dest_messages: list[MessageMeta] | None = None  # listed: to be synced
        self.source_count: int | None = None
        self.plan: MailboxPlan | None = None
        self.failed = False


# A run that may touch fewer messages than this stays in one process: forking and the replies
# cost a few ms, about what listing and copying a few hundred small messages take.
MIN_PARALLEL_MESSAGES = 500


class _ShareOutcome(NamedTuple):
    """What a child process hands back after both steps over the mailboxes it took: per
    mailbox its result, whether it failed and its source's message count."""

    works: list[tuple[MailboxResult, bool, int | None]]
    errors: list[DmfError]
    perfect: bool


class _Run:
    def __init__(self, source: Storage, dest: Storage, options: SyncOptions,
                 reporter: SyncReporter, previous: SyncState | None) -> None:
        self.source = source
        self.dest = dest
        self.options = options
        self.reporter = reporter
        self.previous = previous
        self.selection = MailboxSelection.from_options(options)
        self.results: dict[str, MailboxResult] = {}
        self.deleted: list[MailboxResult] = []
        self.errors: list[DmfError] = []
        self.warned: set[tuple[str, str]] = set()
        self.dest_boxes: dict[str, Mailbox] = {}
        self.held: dict[str, LocalCopy] = {}  # GUID -> a destination copy
        self.perfect = True
        self.shared: list[_MailboxWork] = []  # the mailboxes processes share
        self.link: Link[_MailboxWork] | None = None  # in a forked process: its parent link

    # -- bookkeeping --------------------------------------------------------------------

    def result_for(self, name: str) -> MailboxResult:
        return self.results.setdefault(name, MailboxResult(name=name))

    def fail(self, name: str, exc: DmfError) -> None:
        if exc.scope is Scope.STORE:
            raise exc
        self.result_for(name).errors.append(str(exc))
        self.errors.append(exc)

    def warn(self, warnings: tuple[tuple[str, str], ...]) -> None:
        for name, message in warnings:
            if (name, message) not in self.warned:
                self.warned.add((name, message))
                self.reporter.warn(name, message)

    def dest_box(self, name: str) -> Mailbox:
        box = self.dest_boxes.get(name)
        if box is None:
            box = self.dest_boxes[name] = self.dest.mailbox(name)
        return box

    def find_local(self, copy: LocalCopy) -> str | None:
        try:
            return self.dest_box(copy.mailbox).body_path(copy.uid)
        except DmfError:
            return None

    def both(self, capability: Capability) -> bool:
        return capability in self.source.capabilities and capability in self.dest.capabilities

    # -- the steps ----------------------------------------------------------------------

    def settle_tree(self) -> TreePlan:
        """Rename and create until the destination's names are the source's."""
        source_list = self.source.list_mailboxes()
        subscribed = self.both(Capability.SUBSCRIPTIONS)
        source_subs = self.source.subscriptions() if subscribed else None
        refused: set[str] = set()
        self.create_inbox(source_list)
        rounds = 2 * len(source_list) + 8
        while True:
            dest_list = self.dest.list_mailboxes()
            plan = plan_tree([m for m in source_list if m.name not in refused], dest_list,
                             self.selection, match_by_guid=self.both(Capability.MAILBOX_GUIDS),
                             source_subscriptions=source_subs,
                             dest_subscriptions=self.dest.subscriptions() if subscribed
                             else None)
            self.warn(plan.warnings)
            rounds -= 1
            if plan.settled or rounds < 0:
                self.perfect = self.perfect and plan.settled
                return plan
            if plan.rename is not None:
                self.dest.rename_mailbox(*plan.rename)
                self.dest_boxes.clear()  # names moved: reopen through the store
                continue
            with self.dest.creating():
                for wanted in plan.creates:
                    self.create(wanted, refused)

    def create_inbox(self, source_list: list[MailboxMeta]) -> None:
        """Stores make INBOX exist implicitly, and listing it may give it a GUID of its own:
        create it first with the source's GUID and UIDVALIDITY (a no-op if it is there)."""
        inbox = next((m for m in source_list if m.name == INBOX), None)
        if inbox is None or not self.selection.covers(inbox.name, inbox.guid):
            return
        with suppress(DmfError):  # it exists already: the tree plan pairs it by name
            self.create(inbox, set(), quiet=True)

    def create(self, wanted: MailboxMeta, refused: set[str], quiet: bool = False) -> None:
        guid = wanted.guid if Capability.MAILBOX_GUIDS in self.dest.capabilities else None
        uidvalidity = (wanted.uidvalidity if Capability.SETTABLE_UIDS in self.dest.capabilities
                       else None)
        try:
            self.dest_boxes[wanted.name] = self.dest.create_mailbox(wanted.name, guid,
                                                                    uidvalidity)
        except DmfError as exc:
            if quiet:
                raise
            refused.add(wanted.name)
            self.fail(wanted.name, exc)
            return
        self.result_for(wanted.name).created = True

    def open_work(self, tree: TreePlan) -> list[_MailboxWork]:
        """Open both sides of every pair; list the destination side of those that may differ
        and index every GUID the destination holds. The source side is listed by whichever
        process syncs the mailbox."""
        works: list[_MailboxWork] = []
        for source_meta, dest_meta in tree.pairs:
            work = _MailboxWork(source_meta, dest_meta, self.result_for(source_meta.name))
            works.append(work)
            try:
                work.source_box = self.source.mailbox(source_meta.name)
                work.dest_box = self.dest_box(dest_meta.name)
                if self.can_skip(work):
                    continue
                work.dest_messages = list(work.dest_box.messages())
            except DmfError as exc:
                work.failed = True
                self.fail(source_meta.name, exc)
                continue
            self.index(dest_meta.name, work.dest_messages)
        for doomed in tree.deletes:
            try:
                self.index(doomed.name, self.dest_box(doomed.name).messages())
            except DmfError:
                continue  # only a missed chance of a local copy
        return works

    def can_skip(self, work: _MailboxWork) -> bool:
        """Fast mode: equal modseq metadata, or equal UIDs and summaries, mean no change."""
        if self.options.full or work.result.created:
            return False
        source, dest = work.source_meta, work.dest_meta
        if self.both(Capability.MODSEQS) and unchanged(source, dest):
            return True
        if not self.both(Capability.SUMMARIES) or \
                (source.uidvalidity, source.uidnext) != (dest.uidvalidity, dest.uidnext):
            return False
        assert work.source_box is not None and work.dest_box is not None
        return work.source_box.summary() == work.dest_box.summary()

    def index(self, name: str, messages: Iterable[MessageMeta]) -> None:
        for message in messages:
            self.held.setdefault(message.guid, LocalCopy(name, message.uid))

    def plan(self, work: _MailboxWork) -> MailboxPlan:
        """List the source side and plan the mailbox against its listed destination side."""
        assert work.source_box is not None and work.dest_messages is not None
        source_messages = list(work.source_box.messages())
        work.source_count = len(source_messages)
        window = DateWindow(self.options.start_date, self.options.end_date)
        return plan_mailbox(work.source_meta, work.dest_meta, source_messages,
                            work.dest_messages,
                            settable_uids=Capability.SETTABLE_UIDS in self.dest.capabilities,
                            source_settable_uids=(Capability.SETTABLE_UIDS
                                                  in self.source.capabilities),
                            dest_name=work.dest_meta.name, window=window,
                            held_elsewhere=self.held)

    def early(self, work: _MailboxWork) -> None:
        """Plan; then saves into free UIDs and flag changes, while every local copy still
        exists."""
        work.plan = self.plan(work)
        work.dest_messages = None  # planned: the listing is not needed any more
        if work.plan.empty:
            return
        assert work.source_box and work.dest_box
        self.reporter.mailbox_started(work.result.name, len(work.plan.saves))
        if work.plan.reset:
            return
        saves = [save for save in work.plan.saves if not save.after_expunge]
        prepared: Iterable[tuple[Save, apply.Prepared]]
        if self.link is not None and Capability.STAGED_BODIES in self.dest.capabilities \
                and mailbox_parts.worth_sharing(saves):
            prepared = mailbox_parts.shared_saves(saves, self.link, self.shared.index(work),
                                                  self.options.processes)
        else:
            prepared = ((save, None) for save in saves)
        vanished = apply.save_messages(prepared, work.source_box, work.dest_box,
                                       self.find_local, work.result, self.reporter)
        self.perfect = self.perfect and not vanished
        apply.change_flags(work.plan.flag_changes, work.dest_box, work.result)

    def late(self, work: _MailboxWork) -> None:
        """Expunges, saves into the UIDs they freed, and the final UID state."""
        if work.plan is None or work.plan.empty:
            return
        assert work.source_box and work.dest_box
        work.dest_box.commit()  # the early step's batches finished: what they met is this box's
        apply.expunge_messages(work.plan.expunges, work.dest_box, work.result)
        if work.plan.reset:
            apply.set_uid_state(work.plan.uid_state, work.dest_box)
        vanished = apply.save_messages(((s, None) for s in work.plan.saves if s.after_expunge),
                                       work.source_box, work.dest_box, self.find_local,
                                       work.result, self.reporter)
        self.perfect = self.perfect and not vanished
        apply.set_uid_state(work.plan.uid_state, work.dest_box)
        if work.plan.source_uidnext is not None:
            # the destination's UIDNEXT stays: the source's next mail must not take its UIDs
            apply.set_uid_state((work.source_meta.uidvalidity, work.plan.source_uidnext),
                                work.source_box)

    def sync_messages(self, works: list[_MailboxWork]) -> None:
        todo = [work for work in works if work.dest_messages is not None and not work.failed]
        if self.in_processes(todo):
            self.run_in_processes(sorted(todo, key=lambda work: -work.source_meta.uidnext))
        else:
            for step in (self.early, self.late):
                for work in todo:
                    if not work.failed:
                        self.run_step(step, work)
        for result in self.results.values():
            self.reporter.mailbox_done(result)

    def run_step(self, step: Callable[[_MailboxWork], None], work: _MailboxWork) -> None:
        try:
            step(work)
        except DmfError as exc:
            work.failed = True
            self.fail(work.result.name, exc)

    # -- the same steps in several processes ---------------------------------------------

    def in_processes(self, todo: list[_MailboxWork]) -> bool:
        """Worth forking for: two mailboxes or more (or one whose bodies other processes can
        write, see mailbox_parts), on stores that forked processes may share, holding enough
        messages (UIDNEXT stands in for a count not yet listed)."""
        if self.options.processes < 2 or not todo or not self.both(Capability.FORK_SAFE):
            return False
        messages = sum(work.source_meta.uidnext - 1 for work in todo)
        if len(todo) == 1:
            return (Capability.STAGED_BODIES in self.dest.capabilities
                    and messages >= mailbox_parts.SHARED_MESSAGES)
        return messages >= MIN_PARALLEL_MESSAGES

    def sync_share(self, link: Link[_MailboxWork], reporter: SyncReporter) -> _ShareOutcome:
        """Runs in a child process: the early step over each mailbox it takes (and the parts
        of other processes' mailboxes it is offered), the barrier (no expunge anywhere before
        every early save is done), the late step over the same mailboxes; what the parent
        needs back."""
        from dmf.dsync.parallel import Part

        self.reporter = reporter
        self.link = link
        known = len(self.errors)
        mine = []
        while (taken := link.take()) is not None:
            if isinstance(taken, Part):
                work = self.shared[taken.payload[0]]
                assert work.source_box is not None and work.dest_box is not None
                mailbox_parts.stage_part(taken, work.source_box, work.dest_box,
                                         self.find_local, link)
                continue
            mine.append(taken)
            self.run_step(self.early, taken)
        link.barrier()
        for work in mine:
            if not work.failed:
                self.run_step(self.late, work)
        self.dest.close()  # this process's commits durable before the parent reports them
        return _ShareOutcome([(work.result, work.failed, work.source_count) for work in mine],
                             self.errors[known:], self.perfect)

    def run_in_processes(self, todo: list[_MailboxWork]) -> None:
        from dmf.dsync.parallel import run_forked  # only a run that forks needs it

        self.shared = todo
        processes = self.options.processes
        if Capability.STAGED_BODIES not in self.dest.capabilities:
            processes = min(processes, len(todo))  # else idle ones write others' bodies
        shares = run_forked(todo, processes, self.sync_share, self.reporter)
        self.forget(todo)
        raised: BaseException | None = None
        lost: DmfError | None = None
        for share in shares:
            outcome = share.outcome
            if isinstance(outcome, _ShareOutcome):
                for work, (result, failed, count) in zip(share.items, outcome.works,
                                                         strict=True):
                    work.result = self.results[result.name] = result
                    work.failed, work.source_count = failed, count
                self.errors.extend(outcome.errors)
                self.perfect = self.perfect and outcome.perfect
            elif isinstance(outcome, DmfError) and outcome.scope is not Scope.STORE:
                lost = lost or outcome
                for work in share.items:  # which of them got done is unknown
                    work.failed = True
                    self.fail(work.result.name, outcome)
            elif raised is None:
                raised = outcome  # type: ignore[assignment]
        if raised is not None:
            raise raised
        taken = {id(work) for share in shares for work in share.items}
        for work in todo:
            if id(work) not in taken:  # every process ended before it
                work.failed = True
                self.fail(work.result.name, lost or TemporaryError(
                    "no sync process was left to sync this mailbox; run again",
                    scope=Scope.MAILBOX))

    def forget(self, works: list[_MailboxWork]) -> None:
        """Children wrote these mailboxes: the parent's copies are stale, and not used again."""
        for work in works:
            for box in (work.source_box, work.dest_box):
                if box is not None:
                    box.close()
            work.source_box = work.dest_box = None
            self.dest_boxes.pop(work.dest_meta.name, None)

    def delete_stale(self, tree: TreePlan) -> None:
        for doomed in tree.deletes:
            result = MailboxResult(name=doomed.name, deleted=True)
            box = self.dest_boxes.pop(doomed.name, None)
            try:
                if box is not None:
                    box.close()
                self.dest.delete_mailbox(doomed.name)
            except DmfError as exc:
                result.deleted = False
                if exc.scope is Scope.STORE:
                    raise
                result.errors.append(str(exc))
                self.errors.append(exc)
            self.deleted.append(result)
            self.reporter.mailbox_done(result)

    def new_state(self, works: list[_MailboxWork]) -> str:
        from dmf.dsync.state import MailboxState, SyncState, encode_state

        known = self.previous.by_guid() if self.previous else {}
        states = []
        for work in works:
            meta = work.source_meta
            count = work.source_count
            if count is None:
                count = known[meta.guid].last_messages_count if meta.guid in known else 0
            states.append(MailboxState(meta.guid, meta.uidvalidity, max(meta.uidnext - 1, 0),
                                       meta.highestmodseq, 0, count))
        return encode_state(SyncState(tuple(states)))

    def close(self, works: list[_MailboxWork]) -> None:
        for work in works:
            if work.source_box is not None:
                work.source_box.close()
        for box in self.dest_boxes.values():
            # a batch still finishing here belongs to a mailbox that failed already (the late
            # step waits for the others) or to a run that is failing: its error adds nothing
            with suppress(DmfError, OSError):
                box.close()
        self.dest_boxes.clear()

    def run(self) -> SyncResult:
        tree = self.settle_tree()
        works: list[_MailboxWork] = []
        try:
            works = self.open_work(tree)
            self.sync_messages(works)
        finally:
            self.close(works)
        if tree.settled:
            self.delete_stale(tree)
            if tree.subscriptions is not None and \
                    tree.subscriptions != self.dest.subscriptions():
                self.dest.set_subscriptions(sorted(tree.subscriptions))
        result = SyncResult(mailboxes=[*self.results.values(), *self.deleted],
                            perfect=self.perfect)
        if self.options.state is not None:
            result.new_state = self.new_state([w for w in works if not w.failed])
        return result


def _lock(dest: Storage, options: SyncOptions) -> AbstractContextManager[None]:
    if options.lock_timeout is None or Capability.LOCKING not in dest.capabilities:
        return nullcontext()
    return dest.lock(options.lock_timeout)


def sync_user(source: Storage, dest: Storage, options: SyncOptions,
              reporter: SyncReporter | None = None) -> SyncResult:
    """Make `dest` identical to `source` (one-way backup); see the module docstring."""
    started = time.monotonic()
    if options.mode is not SyncMode.BACKUP:
        raise NotPossibleError(f"{options.mode.value}: only one-way backup is implemented")
    previous = None
    if options.state is not None:
        from dmf.dsync.state import decode_state

        previous = decode_state(options.state)
    run = _Run(source, dest, options, reporter or SilentReporter(), previous)
    with _lock(dest, options):
        result = run.run()
    result.seconds = time.monotonic() - started
    if run.errors:
        first = run.errors[0]
        failure = type(first)(f"{len(run.errors)} error(s) in this run; first: {first}",
                              scope=first.scope, retry=first.retry)
        failure.sync_result = result  # type: ignore[attr-defined]
        raise failure
    return result
