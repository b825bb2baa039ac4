"""Carries out message plans against real mailboxes: the imperative half of `plan.py`.

Bodies stream: a save hands the destination an opener, never bytes, so memory does not grow
with message size. Saves are committed in batches (by count and by bytes), which bounds what a
crash can cost to one batch while letting the store sync its files once per batch instead of
once per message; the store may finish a batch in the background while the next mailbox is
copied (the run's store close waits for all of them). A local copy passes the destination
file's path so the store may hard-link it; if that file is gone by then (expunged earlier in the
run, or by a process of this run that writes other mailboxes at the same time), the source's
body is streamed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import BinaryIO, Final, Literal

from dmf.dsync.options import MailboxResult
from dmf.dsync.plan import LocalCopy, Save
from dmf.dsync.report import SyncReporter
from dmf.errors import NotFoundError
from dmf.mail.model import MailboxChange
from dmf.mail.storage import Body, Mailbox, StagedBody

BATCH_MESSAGES = 1000
BATCH_BYTES = 256 * 1024 * 1024

LocalPathFinder = Callable[[LocalCopy], "str | None"]
# What a save may come with: the body another process already wrote for it, or VANISHED (that
# process found the source message gone); None: the save writes its body itself.
VANISHED: Final = "vanished"
Prepared = StagedBody | Literal["vanished"] | None


def _open_local(path: str, source: Callable[[], BinaryIO]) -> BinaryIO:
    """The destination's own file, or the source's stream when that file went meanwhile (another
    process of this run expunged it, or a client did)."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the store closes what it opens
    except FileNotFoundError:
        return source()


def body_for(save: Save, source: Mailbox, find_local: LocalPathFinder) -> Body:
    """The body to hand the destination: its own file when it still holds one, else the
    source's stream."""
    from_source = partial(source.open_body, save.meta.uid)
    if save.local is not None:
        path = find_local(save.local)
        if path is not None and os.path.exists(path):
            return Body(open=partial(_open_local, path, from_source), path=path)
    return Body(open=from_source)


def save_messages(saves: Iterable[tuple[Save, Prepared]], source: Mailbox, dest: Mailbox,
                  find_local: LocalPathFinder, result: MailboxResult,
                  reporter: SyncReporter) -> int:
    """Save each message, committing in batches; returns how many vanished from the source
    meanwhile (the run is then not perfect: a re-run settles them)."""
    vanished = pending = pending_bytes = 0
    for save, prepared in saves:
        try:
            if prepared is None:
                dest.save(save.meta, body_for(save, source, find_local))
            elif prepared == VANISHED:
                raise NotFoundError(f"message {save.meta.uid} vanished from the source")
            else:
                dest.save_staged(save.meta, prepared)
        except NotFoundError:
            vanished += 1
            continue
        result.saved += 1
        result.bytes_saved += save.meta.size
        reporter.message_saved(result.name, save.meta.size)
        pending += 1
        pending_bytes += save.meta.size
        if pending >= BATCH_MESSAGES or pending_bytes >= BATCH_BYTES:
            dest.commit(wait=False)
            pending = pending_bytes = 0
    if pending:
        dest.commit(wait=False)
    return vanished


def expunge_messages(uids: tuple[int, ...], dest: Mailbox, result: MailboxResult) -> None:
    if uids:
        dest.expunge(uids)
        dest.commit()
        result.expunged += len(uids)


def change_flags(changes: tuple[MailboxChange, ...], dest: Mailbox,
                 result: MailboxResult) -> None:
    if changes:
        dest.update_flags(changes)
        dest.commit()
        result.flag_changes += len(changes)


def set_uid_state(uid_state: tuple[int, int] | None, dest: Mailbox) -> None:
    if uid_state is not None:
        dest.set_uid_state(*uid_state)
        dest.commit()
