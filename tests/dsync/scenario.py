"""A small notation for mailbox scenarios and a pure simulator of a MailboxPlan, so planner
tests read as isync's run-tests.pl tables: source box, destination box, destination after.

A box is a string of messages separated by spaces, each `uid:guid[:flags]` where flags are
Maildir letters (S R F T D) and lowercase keyword names after a `+`, e.g. `3:g3:SF+work`.
"""

from __future__ import annotations

from dmf.dsync.plan import MailboxPlan
from dmf.mail.model import DELETED, DRAFT, FLAGGED, SEEN, MailboxMeta, MessageMeta

LETTERS = {"S": SEEN, "R": "\\Answered", "F": FLAGGED, "T": DELETED, "D": DRAFT}


def box(text: str) -> list[MessageMeta]:
    messages = []
    for item in text.split():
        uid, guid, *rest = item.split(":")
        letters, _, keywords = (rest[0] if rest else "").partition("+")
        messages.append(MessageMeta(
            uid=int(uid), guid=guid, flags=frozenset(LETTERS[c] for c in letters),
            keywords=frozenset(k for k in keywords.split(",") if k),
            internal_date=int(uid) * 100, size=10 * int(uid)))
    return messages


def render(messages: list[MessageMeta]) -> str:
    reverse = {flag: letter for letter, flag in LETTERS.items()}
    items = []
    for m in sorted(messages, key=lambda m: m.uid):
        flags = "".join(sorted(reverse[f] for f in m.flags))
        keywords = ",".join(sorted(m.keywords))
        suffix = flags + (f"+{keywords}" if keywords else "")
        items.append(f"{m.uid}:{m.guid}" + (f":{suffix}" if suffix else ""))
    return " ".join(items)


def meta(uidvalidity: int, messages: list[MessageMeta], uidnext: int | None = None,
         name: str = "INBOX") -> MailboxMeta:
    highest = max((m.uid for m in messages), default=0)
    return MailboxMeta(name=name, guid="0" * 32, uidvalidity=uidvalidity,
                       uidnext=uidnext if uidnext is not None else highest + 1)


def simulate(plan: MailboxPlan, dest: list[MessageMeta],
             uid_state: tuple[int, int]) -> tuple[list[MessageMeta], tuple[int, int]]:
    """Run a plan as a store with settable UIDs would, checking the ordering contract: early
    saves land in free UIDs, expunges hit held UIDs, late saves land in UIDs freed by then."""
    held = {m.uid: m for m in dest}
    if plan.reset:
        assert not [s for s in plan.saves if not s.after_expunge]
    for save in plan.saves:
        if not save.after_expunge:
            assert save.meta.uid not in held, f"early save into held UID {save.meta.uid}"
            held[save.meta.uid] = save.meta
    for change in plan.flag_changes:
        old = held[change.uid]
        held[change.uid] = MessageMeta(uid=old.uid, guid=old.guid, flags=change.flags,
                                       keywords=change.keywords,
                                       internal_date=old.internal_date, size=old.size)
    for uid in plan.expunges:
        assert uid in held, f"expunge of absent UID {uid}"
        del held[uid]
    for save in plan.saves:
        if save.after_expunge:
            assert save.meta.uid not in held, f"late save into held UID {save.meta.uid}"
            held[save.meta.uid] = save.meta
    return list(held.values()), plan.uid_state or uid_state
