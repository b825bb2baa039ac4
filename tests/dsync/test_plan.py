"""The backup planner: scenario table rows (source, destination, destination after) and
properties over random mailboxes."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmf.dsync.plan import DateWindow, LocalCopy, plan_mailbox, unchanged
from dmf.mail.model import MailboxMeta, MessageMeta
from tests.dsync.scenario import box, meta, render, simulate

# (case, source uidvalidity, source, destination uidvalidity, destination,
#  transfers expected (saves without a local copy), UIDNEXT of both sides after)
SCENARIOS = [
    ("empty destination", 7, "1:a 2:b:S 3:c:F+work", 7, "", 3, 4),
    ("nothing to do", 7, "1:a 2:b:S", 7, "1:a 2:b:S", 0, 3),
    ("new mail on the source", 7, "1:a 2:b 3:c", 7, "1:a 2:b", 1, 4),
    ("expunged on the source", 7, "1:a 3:c", 7, "1:a 2:b 3:c", 0, 4),
    ("destination lost a message", 7, "1:a 2:b 3:c", 7, "1:a 3:c", 1, 4),
    ("flags changed on the source", 7, "1:a:S 2:b:RF+work", 7, "1:a 2:b:F", 0, 3),
    ("flags changed on the destination", 7, "1:a 2:b", 7, "1:a:ST 2:b:+junk", 0, 3),
    # the destination gave out UIDs 2-9: the source must not give them out again
    ("extra message on the destination", 7, "1:a", 7, "1:a 2:x 9:y", 0, 10),
    ("destination went past the source's UIDNEXT", 7, "1:a 2:b 3:c 4:d", 7,
     "1:a 2:b 3:c 4:d 5:x 6:y 7:z", 0, 8),
    ("same UID, other GUID", 7, "1:a 2:b", 7, "1:a 2:x", 1, 3),
    ("UIDVALIDITY differs", 8, "1:a 2:b", 7, "1:a 2:b 3:c", 2, 3),
    ("UIDVALIDITY differs, new content", 8, "1:p 2:q", 7, "1:a", 2, 3),
    ("message moved to another UID", 7, "1:a 5:b", 7, "1:a 2:b", 0, 6),
    ("UIDs swapped", 7, "1:b 2:a", 7, "1:a 2:b", 2, 3),
    ("duplicate GUID kept twice", 7, "1:a 2:a", 7, "1:a", 0, 3),
]


@pytest.mark.parametrize(("case", "src_validity", "source", "dst_validity", "dest", "transfers",
                          "uidnext"), SCENARIOS, ids=[row[0] for row in SCENARIOS])
def test_scenario(case: str, src_validity: int, source: str, dst_validity: int, dest: str,
                  transfers: int, uidnext: int) -> None:
    src_messages, dst_messages = box(source), box(dest)
    src_meta = meta(src_validity, src_messages)
    dst_meta = meta(dst_validity, dst_messages)
    plan = plan_mailbox(src_meta, dst_meta, src_messages, dst_messages, settable_uids=True,
                        source_settable_uids=True)
    after, uid_state = simulate(plan, dst_messages, (dst_meta.uidvalidity, dst_meta.uidnext))
    assert render(after) == render(src_messages)
    assert uid_state == (src_meta.uidvalidity, uidnext)
    assert (plan.source_uidnext or src_meta.uidnext) == uidnext
    assert sum(1 for s in plan.saves if s.local is None) == transfers


def test_source_without_settable_uids_sets_the_destination_uidnext() -> None:
    """A source whose UIDNEXT cannot be raised: the destination follows the source's."""
    source, dest = box("1:a"), box("1:a 2:x")
    plan = plan_mailbox(meta(7, source), meta(7, dest), source, dest, settable_uids=True)
    assert (plan.uid_state, plan.source_uidnext) == ((7, 2), None)


def test_held_elsewhere_becomes_a_local_copy() -> None:
    source = box("1:a 2:b")
    plan = plan_mailbox(meta(1, source), meta(1, []), source, [], settable_uids=True,
                        held_elsewhere={"b": LocalCopy("Archive", 40)})
    assert [(s.meta.uid, s.local) for s in plan.saves] == [(1, None),
                                                          (2, LocalCopy("Archive", 40))]


def test_date_window_leaves_other_messages_alone() -> None:
    # internal_date is uid * 100 in the notation
    source, dest = box("1:a 2:b 3:c 4:d"), box("1:x 5:old")
    plan = plan_mailbox(meta(1, source), meta(1, dest, uidnext=5), source, dest,
                        settable_uids=True, window=DateWindow(start=200, end=300))
    assert sorted(s.meta.uid for s in plan.saves) == [2, 3]
    assert plan.expunges == ()  # 1:x and 5:old lie outside the window


def test_without_settable_uids_messages_match_by_guid() -> None:
    source, dest = box("1:a:S 2:b 3:c"), box("10:c 11:a 12:z")
    plan = plan_mailbox(meta(1, source), meta(2, dest), source, dest, settable_uids=False)
    assert [s.meta.guid for s in plan.saves] == ["b"]
    assert plan.expunges == (12,)
    assert [(c.uid, sorted(c.flags)) for c in plan.flag_changes] == [(11, ["\\Seen"])]
    assert plan.uid_state is None


def test_fast_mode_needs_equal_modseqs() -> None:
    base = MailboxMeta("INBOX", "0" * 32, uidvalidity=1, uidnext=9, highestmodseq=30)
    assert unchanged(base, MailboxMeta("INBOX", "0" * 32, 1, 9, 30))
    assert not unchanged(base, MailboxMeta("INBOX", "0" * 32, 1, 9, 31))
    assert not unchanged(base, MailboxMeta("INBOX", "0" * 32, 1, 10, 30))
    assert not unchanged(MailboxMeta("INBOX", "0" * 32, 1, 9, 0),
                         MailboxMeta("INBOX", "0" * 32, 1, 9, 0))


# -- properties ------------------------------------------------------------------------

guids = st.sampled_from("abcdefgh")
flag_sets = st.frozensets(st.sampled_from(["\\Seen", "\\Flagged", "\\Deleted"]), max_size=2)
keyword_sets = st.frozensets(st.sampled_from(["work", "$Junk"]), max_size=1)


@st.composite
def mailboxes(draw: st.DrawFn) -> tuple[int, list[MessageMeta]]:
    uids = draw(st.lists(st.integers(1, 30), unique=True, max_size=12))
    messages = [MessageMeta(uid=uid, guid=draw(guids), flags=draw(flag_sets),
                            keywords=draw(keyword_sets), internal_date=uid * 100,
                            size=uid) for uid in sorted(uids)]
    return draw(st.sampled_from([1, 2])), messages


@settings(max_examples=300, deadline=None)
@given(mailboxes(), mailboxes())
def test_backup_makes_the_destination_identical(source_box: tuple[int, list[MessageMeta]],
                                                dest_box: tuple[int, list[MessageMeta]]) -> None:
    (src_validity, source), (dst_validity, dest) = source_box, dest_box
    src_meta, dst_meta = meta(src_validity, source), meta(dst_validity, dest)
    plan = plan_mailbox(src_meta, dst_meta, source, dest, settable_uids=True)
    after, uid_state = simulate(plan, dest, (dst_validity, dst_meta.uidnext))
    assert render(after) == render(source)
    assert uid_state == (src_validity, src_meta.uidnext)
    # nothing identical is moved, and a second plan finds nothing to do
    if src_validity == dst_validity:
        same = {(m.uid, m.guid) for m in source} & {(m.uid, m.guid) for m in dest}
        assert not {(s.meta.uid, s.meta.guid) for s in plan.saves} & same
    again = plan_mailbox(src_meta, meta(src_validity, after, uidnext=uid_state[1]), source,
                         after, settable_uids=True)
    assert again.empty


@settings(max_examples=300, deadline=None)
@given(mailboxes(), mailboxes())
def test_held_guids_are_never_transferred(source_box: tuple[int, list[MessageMeta]],
                                          dest_box: tuple[int, list[MessageMeta]]) -> None:
    (validity, source), (_, dest) = source_box, dest_box
    plan = plan_mailbox(meta(validity, source), meta(validity, dest), source, dest,
                        settable_uids=True)
    expunged = set(plan.expunges)
    kept = {m.guid for m in dest if m.uid not in expunged}
    for save in plan.saves:
        if save.meta.guid in kept:
            assert save.local is not None and save.local.uid not in expunged


@settings(max_examples=200, deadline=None)
@given(mailboxes(), mailboxes(), st.integers(0, 3100), st.integers(0, 3100))
def test_window_changes_only_messages_inside_it(source_box: tuple[int, list[MessageMeta]],
                                                dest_box: tuple[int, list[MessageMeta]],
                                                start: int, end: int) -> None:
    (validity, source), (_, dest) = source_box, dest_box
    window = DateWindow(start, end)
    plan = plan_mailbox(meta(validity, source), meta(validity, dest), source, dest,
                        settable_uids=True, window=window)
    assert all(window.holds(s.meta) for s in plan.saves)
    inside = {m.uid for m in dest if window.holds(m)}
    source_uids = {m.uid: m.guid for m in source if window.holds(m)}
    for uid in plan.expunges:  # outside the window only a UID the source reuses is touched
        assert uid in inside or uid in source_uids


@settings(max_examples=200, deadline=None)
@given(mailboxes(), mailboxes())
def test_matching_by_guid_ends_with_the_source_messages(
        source_box: tuple[int, list[MessageMeta]],
        dest_box: tuple[int, list[MessageMeta]]) -> None:
    """A destination that picks its own UIDs ends with the same GUIDs, flags and keywords."""
    (_, source), (_, dest) = source_box, dest_box
    plan = plan_mailbox(meta(1, source), meta(2, dest), source, dest, settable_uids=False)
    held = {m.uid: (m.guid, m.flags, m.keywords) for m in dest}
    for change in plan.flag_changes:
        held[change.uid] = (held[change.uid][0], change.flags, change.keywords)
    for uid in plan.expunges:
        del held[uid]
    after = sorted([*held.values(), *((s.meta.guid, s.meta.flags, s.meta.keywords)
                                      for s in plan.saves)], key=repr)
    assert after == sorted(((m.guid, m.flags, m.keywords) for m in source), key=repr)
    wanted, had = Counter(m.guid for m in source), Counter(m.guid for m in dest)
    assert len(plan.saves) == sum((wanted - had).values())  # held copies are kept, not re-sent
