"""Per-mailbox message plan for a one-way backup, pure: what to save, expunge and re-flag so the
destination ends identical to the source.

With settable UIDs, messages are matched by UID: a UID held on both sides by the same GUID is
the same message (only its flags may differ); a UID held by different GUIDs, or a different
UIDVALIDITY, means the destination's message goes and the source's is saved with its UID.
Without settable UIDs, messages are matched by GUID (as many copies as the source holds).

A message the destination already holds under the same GUID (another UID of this mailbox,
another mailbox, a previous run) becomes a local copy rather than a transfer. Saves into UIDs
that are free now run before the expunges (so a copy may still come from a message about to
go); saves into UIDs that an expunge frees run after them.

`-t`/`-e` limit the messages considered by internal date: messages outside the window are left
alone on both sides.

A UID is never handed out twice within one UIDVALIDITY. When the destination went past the
source's UIDNEXT (mail was delivered to the backup), lowering its UIDNEXT to the source's would
let the source's next messages take UIDs the destination already gave to others, and a client
with a cache would show the wrong messages. So the destination keeps its UIDNEXT and the
source's is raised to it (where the source's UIDs are settable): both sides then skip those
UIDs, and UIDVALIDITY stays. `doveadm backup` 2.3.19 does not guarantee this: it recreates
such a mailbox with the source's UIDNEXT (the UIDs are reused), and for INBOX it fails (exit 65)
leaving it empty.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from dmf.mail.model import MailboxChange, MailboxMeta, MessageMeta


class LocalCopy(NamedTuple):
    """A destination message with the wanted GUID: (destination mailbox name, UID)."""

    mailbox: str
    uid: int


class Save(NamedTuple):
    meta: MessageMeta  # the source's message; meta.uid is the UID wanted
    local: LocalCopy | None = None
    after_expunge: bool = False  # its UID is freed by this plan's expunges


class DateWindow(NamedTuple):
    start: int | None = None  # -t: internal date at or after
    end: int | None = None  # -e: internal date at or before

    def holds(self, message: MessageMeta) -> bool:
        return ((self.start is None or message.internal_date >= self.start)
                and (self.end is None or message.internal_date <= self.end))


EVERY_DATE = DateWindow()


class MailboxPlan(NamedTuple):
    saves: tuple[Save, ...] = ()
    expunges: tuple[int, ...] = ()
    flag_changes: tuple[MailboxChange, ...] = ()
    uid_state: tuple[int, int] | None = None  # (uidvalidity, uidnext) to set at the end
    reset: bool = False  # UIDVALIDITY differs: every destination message goes first
    source_uidnext: int | None = None  # raise the source's UIDNEXT to this (module docstring)

    @property
    def empty(self) -> bool:
        return not (self.saves or self.expunges or self.flag_changes or self.uid_state
                    or self.source_uidnext)


def unchanged(source: MailboxMeta, dest: MailboxMeta) -> bool:
    """Fast mode's test, meaningful only where both stores keep modseqs: equal UIDVALIDITY,
    UIDNEXT and HIGHESTMODSEQ mean nothing was added, expunged or re-flagged since the last run."""
    return (source.uidvalidity == dest.uidvalidity and source.uidnext == dest.uidnext
            and source.highestmodseq == dest.highestmodseq and source.highestmodseq > 0)


def _flag_change(wanted: MessageMeta, held: MessageMeta, uid: int) -> MailboxChange | None:
    if wanted.flags == held.flags and wanted.keywords == held.keywords:
        return None
    return MailboxChange(uid=uid, flags=wanted.flags, keywords=wanted.keywords)


def plan_mailbox(source_meta: MailboxMeta, dest_meta: MailboxMeta,
                 source_messages: Iterable[MessageMeta], dest_messages: Iterable[MessageMeta],
                 *, settable_uids: bool, source_settable_uids: bool = False,
                 dest_name: str | None = None,
                 window: DateWindow = EVERY_DATE,
                 held_elsewhere: Mapping[str, LocalCopy] | None = None) -> MailboxPlan:
    """The actions that make one destination mailbox equal to its source (module docstring).

    `held_elsewhere` maps GUIDs to messages in other destination mailboxes; `dest_name` names
    this destination mailbox in local copies (defaults to the source's name);
    `source_settable_uids` says whether the source's UIDNEXT may be raised.
    """
    wanted = [m for m in source_messages if window.holds(m)]
    held = list(dest_messages)
    local_name = source_meta.name if dest_name is None else dest_name
    elsewhere = held_elsewhere or {}
    if not settable_uids:
        return _plan_by_guid(wanted, [m for m in held if window.holds(m)], local_name,
                             elsewhere)

    reset = source_meta.uidvalidity != dest_meta.uidvalidity
    wanted_by_uid = {m.uid: m for m in wanted}
    expunges: list[int] = []
    flag_changes: list[MailboxChange] = []
    freed: set[int] = set()
    held_uids: set[int] = set()
    for message in held:
        held_uids.add(message.uid)
        source_message = None if reset else wanted_by_uid.get(message.uid)
        if source_message is None:
            if reset or window.holds(message):
                expunges.append(message.uid)
        elif source_message.guid != message.guid:
            expunges.append(message.uid)
            freed.add(message.uid)
        elif change := _flag_change(source_message, message, message.uid):
            flag_changes.append(change)

    expunged = set(expunges)
    kept_here = {m.guid: LocalCopy(local_name, m.uid) for m in held
                 if not reset and m.uid not in expunged}
    doomed_here = {m.guid: LocalCopy(local_name, m.uid) for m in held
                   if not reset and m.uid in expunged}
    saves: list[Save] = []
    for message in wanted:
        if not reset and message.uid in held_uids and message.uid not in freed:
            continue
        after = reset or message.uid in freed
        local = kept_here.get(message.guid) or elsewhere.get(message.guid)
        if local is None and not after:
            local = doomed_here.get(message.guid)
        saves.append(Save(meta=message, local=local, after_expunge=after))

    uid_state = None
    source_uidnext = None
    if not reset and dest_meta.uidnext > source_meta.uidnext and source_settable_uids:
        source_uidnext = dest_meta.uidnext
    elif reset or dest_meta.uidnext != source_meta.uidnext:
        uid_state = (source_meta.uidvalidity, source_meta.uidnext)
    return MailboxPlan(saves=tuple(saves), expunges=tuple(expunges),
                       flag_changes=tuple(flag_changes), uid_state=uid_state, reset=reset,
                       source_uidnext=source_uidnext)


def _plan_by_guid(wanted: list[MessageMeta], held: list[MessageMeta], local_name: str,
                  elsewhere: Mapping[str, LocalCopy]) -> MailboxPlan:
    held_by_guid: dict[str, list[MessageMeta]] = defaultdict(list)
    for message in held:
        held_by_guid[message.guid].append(message)
    saves: list[Save] = []
    flag_changes: list[MailboxChange] = []
    for message in wanted:
        copies = held_by_guid.get(message.guid)
        if copies:
            match = copies.pop(0)
            if change := _flag_change(message, match, match.uid):
                flag_changes.append(change)
        else:
            saves.append(Save(meta=message, local=elsewhere.get(message.guid)))
    expunges = sorted(m.uid for copies in held_by_guid.values() for m in copies)
    if saves:
        reusable = {m.guid: LocalCopy(local_name, m.uid) for m in held if m.uid in expunges}
        saves = [save if save.local else Save(save.meta, reusable.get(save.meta.guid))
                 for save in saves]
    return MailboxPlan(saves=tuple(saves), expunges=tuple(expunges),
                       flag_changes=tuple(flag_changes))
