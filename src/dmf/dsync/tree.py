"""Mailbox tree plan for a one-way backup, pure: which mailboxes to rename, create and delete,
which pairs to sync message by message, and the destination's subscriptions.

Mailboxes are matched by mailbox GUID when both stores keep GUIDs (a rename on the source is a
rename on the destination, not a delete and a copy), else by name. A destination mailbox in the
way of a name the source needs is first moved to a temporary name; every deletion is left to
the end of the run, so messages of doomed mailboxes can still serve as local copies.

INBOX cannot be renamed or deleted in most stores: it is always matched by name, and a GUID
difference there is reported as a warning (the brain creates a missing INBOX with the source's
GUID before the first listing, so this happens only to a destination that had its own INBOX).

Renames are planned one at a time: stores may move children along with their parent, so the
caller applies the first rename, lists again and plans again until nothing is left to move.
"""

from collections.abc import Iterable
from typing import NamedTuple

from dmf.dsync.masks import MailboxSelection
from dmf.mail.model import MailboxMeta

TEMP_PREFIX = "dmf-moving-"
INBOX = "INBOX"
INBOX_GUID_DIFFERS = "the destination's INBOX has another mailbox GUID, which cannot be changed"
REFUSED_BY_DOVECOT = "name begins with '~', which Dovecot refuses; copied as is"


class TreePlan(NamedTuple):
    rename: tuple[str, str] | None  # the next rename to do, (old, new)
    creates: tuple[MailboxMeta, ...]  # source mailboxes missing on the destination (no rename)
    pairs: tuple[tuple[MailboxMeta, MailboxMeta], ...]  # (source, destination) to sync
    deletes: tuple[MailboxMeta, ...]  # destination mailboxes the source lacks (once settled)
    subscriptions: frozenset[str] | None  # the destination's new set; None: leave it
    warnings: tuple[tuple[str, str], ...]  # (mailbox, message)

    @property
    def settled(self) -> bool:
        """True when the destination's names match: messages can be synced."""
        return self.rename is None and not self.creates


def _temp_name(meta: MailboxMeta, taken: set[str]) -> str:
    base = f"{TEMP_PREFIX}{meta.guid or 'mailbox'}"
    name, counter = base, 1
    while name in taken:
        counter += 1
        name = f"{base}-{counter}"
    return name


def plan_tree(source: Iterable[MailboxMeta], dest: Iterable[MailboxMeta],
              selection: MailboxSelection, *, match_by_guid: bool,
              source_subscriptions: frozenset[str] | None = None,
              dest_subscriptions: frozenset[str] | None = None) -> TreePlan:
    """Plan one step of making the destination's tree the source's (see module docstring).

    Subscriptions are planned only when both sets are given (both stores keep them).
    """
    source_in = sorted((m for m in source if selection.covers(m.name, m.guid)),
                       key=lambda m: m.name)
    dest_all = list(dest)
    dest_in = [m for m in dest_all if selection.covers(m.name, m.guid)]
    taken = {m.name for m in dest_all}

    def key(meta: MailboxMeta) -> str:
        return meta.guid if match_by_guid and meta.name != INBOX else meta.name

    dest_by_key = {key(m): m for m in dest_in}
    dest_by_name = {m.name: m for m in dest_in}
    out_of_scope = taken - dest_by_name.keys()

    rename: tuple[str, str] | None = None
    creates: list[MailboxMeta] = []
    pairs: list[tuple[MailboxMeta, MailboxMeta]] = []
    warnings: list[tuple[str, str]] = []
    matched: set[str] = set()
    for wanted in source_in:
        if wanted.name.startswith("~"):
            warnings.append((wanted.name, REFUSED_BY_DOVECOT))
        held = dest_by_key.get(key(wanted))
        if held is not None and held.name == INBOX and held.guid != wanted.guid \
                and match_by_guid:
            warnings.append((INBOX, INBOX_GUID_DIFFERS))
        if held is not None:
            matched.add(held.name)
            if held.name == wanted.name:
                pairs.append((wanted, held))
                continue
        if rename is not None:
            continue  # one rename per step; the rest is planned after the next listing
        occupant = dest_by_name.get(wanted.name)
        if wanted.name in out_of_scope:
            warnings.append((wanted.name, "an excluded destination mailbox holds this name"))
        elif occupant is not None and occupant.name != INBOX:  # in the way: move it aside
            rename = (occupant.name, _temp_name(occupant, taken))
        elif held is not None:
            rename = (held.name, wanted.name)
        else:
            creates.append(wanted)

    deletes = tuple(m for m in dest_in if m.name not in matched and m.name != INBOX)
    subscriptions = None
    if source_subscriptions is not None and dest_subscriptions is not None:
        scoped_names = ({m.name for m in source_in} | {m.name for m in dest_in}
                        if selection.guid is not None else None)

        def in_scope(name: str) -> bool:
            return selection.covers_name(name) and (scoped_names is None
                                                    or name in scoped_names)

        subscriptions = frozenset({n for n in dest_subscriptions if not in_scope(n)}
                                  | {n for n in source_subscriptions if in_scope(n)})
    return TreePlan(rename=rename, creates=tuple(creates) if rename is None else (),
                    pairs=tuple(pairs), deletes=deletes, subscriptions=subscriptions,
                    warnings=tuple(warnings))
