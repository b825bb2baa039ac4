"""One big mailbox copied by several processes: the others write bodies, its owner commits.

Without this a user whose mail is all in INBOX is synced by one process however many are
allowed. The process that took the mailbox (its owner) plans it as usual, then offers its saves
in parts of PART_MESSAGES to the other processes of the run (`parallel.Link.post`), a few parts
ahead of where it is, once another process waits for work (none does while mailboxes are left
to take). A process that takes a part writes those bodies into unnamed files
(`Mailbox.stage`) and hands the open files back through the parent; the owner goes through the
parts in UID order: a part nobody took yet it takes back and writes itself, a delivered one it
saves from the files it received (`Mailbox.save_staged`). So one process still writes the
mailbox's uidlist, commits keep UID order (a Dovecot reading along never sees a UID appear below
one it knows), keywords get their letters in one place, and the crash rules are the store's
own: a body is nobody's until the owner's commit names it. A part whose process was lost, or
that could not stage every body (out of descriptors, no unnamed files), is finished by the
owner.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dmf.dsync.apply import VANISHED, LocalPathFinder, Prepared, body_for
from dmf.dsync.plan import Save
from dmf.errors import DmfError, NotFoundError
from dmf.mail.storage import Mailbox, StagedBody

if TYPE_CHECKING:
    from dmf.dsync.parallel import Link, Part

# Bodies a process writes for another in one go: few enough that a part's descriptors travel in
# one message (Linux passes at most 253), many enough that the round trips do not count.
PART_MESSAGES = 200
# A mailbox is shared out when it has at least this many bodies to copy: at 700 messages all
# in INBOX three processes took 1.11-1.16x the time of one (forks, the relay of bodies), at
# 2,000 0.85-0.92x; and a 672-message INBOX shared at the end of a 2,000-message run of many
# folders made it slower.
SHARED_MESSAGES = 1500
# Parts offered ahead of the one the owner is at, per process: bounds the descriptors that
# wait in the parent for the owner.
PARTS_AHEAD = 2

# A part's outcome: per save (up to where the taker stopped), (size, vsize) of its staged body,
# whose descriptor comes in order with the others, or None when the source message is gone.
PartOutcome = list["tuple[int, int | None] | None"]


def worth_sharing(saves: Sequence[Save]) -> bool:
    return len(saves) >= SHARED_MESSAGES


def shared_saves(saves: Sequence[Save], link: Link[Any], key: int,
                 processes: int) -> Iterator[tuple[Save, Prepared]]:
    """The owner's saves in order, each with the body another process staged for it, or None
    (the owner writes it), or VANISHED. `key` names the mailbox to the other processes."""
    parts = [saves[start:start + PART_MESSAGES] for start in range(0, len(saves), PART_MESSAGES)]
    posted: dict[int, int] = {}  # part index -> its number at the parent
    next_offer = 1  # the owner starts on part 0 itself
    unused: list[int] = []  # descriptors received and not yet handed on
    try:
        offering = False
        for index, part in enumerate(parts):
            next_offer = max(next_offer, index + 1)
            # from the first moment another process waits for work on: before, an offer would
            # cost round trips to the parent (and its turn on a busy CPU) to be taken back
            offering = offering or link.idle() > 0
            while offering and next_offer < len(parts) \
                    and next_offer <= index + PARTS_AHEAD * processes:
                if all(save.local is None for save in parts[next_offer]):  # links: the owner
                    posted[next_offer] = link.post((key, parts[next_offer]))
                next_offer += 1
            number = posted.pop(index, None)
            delivered = None
            if number is not None and not link.reclaim(number):
                delivered = link.result_of(number)  # None: its process was lost
            if delivered is None:
                yield from ((save, None) for save in part)
                continue
            if isinstance(delivered.outcome, BaseException):
                _close(delivered.fds)
                raise delivered.outcome
            unused = list(reversed(delivered.fds))
            entries: PartOutcome = delivered.outcome
            for position, save in enumerate(part):
                if position >= len(entries):  # the taker stopped there
                    yield save, None
                elif (entry := entries[position]) is None:
                    yield save, VANISHED
                else:
                    yield save, StagedBody(unused.pop(), *entry)
    finally:  # left early (a failed save): nothing offered may stay behind
        _close(unused)
        for number in posted.values():
            if not link.reclaim(number):
                left = link.result_of(number)
                if left is not None:
                    _close(left.fds)


def stage_part(part: Part, source: Mailbox, dest: Mailbox, find_local: LocalPathFinder,
               link: Link[Any]) -> None:
    """In a process that took a part: stage its bodies and deliver them to the owner. Stops at
    the first body it cannot stage (the owner writes the rest); a store error goes to the
    owner, who fails the mailbox as if it had happened there."""
    _key, saves = part.payload
    entries: PartOutcome = []
    staged: list[StagedBody] = []
    outcome: PartOutcome | DmfError = entries
    try:
        for save in saves:
            try:
                body = dest.stage(save.meta, body_for(save, source, find_local))
            except NotFoundError:
                entries.append(None)
                continue
            if body is None:
                break
            staged.append(body)
            entries.append((body.size, body.vsize))
    except DmfError as exc:
        outcome = exc
    try:
        link.deliver(part.number, outcome,
                     [] if outcome is not entries else [body.fd for body in staged])
    finally:
        for body in staged:  # the owner holds them now (or nobody: they go)
            dest.drop_staged(body)


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        os.close(fd)
