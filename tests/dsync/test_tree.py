"""The mailbox tree planner: renames by GUID, creates, deletes, selection and subscriptions.
`settle` applies plans step by step to a name -> GUID map, as the brain does to a store."""

from __future__ import annotations

from dmf.dsync.masks import MailboxSelection, mask_pattern
from dmf.dsync.options import SyncOptions
from dmf.dsync.tree import REFUSED_BY_DOVECOT, TreePlan, plan_tree
from dmf.mail.model import MailboxMeta

EVERYTHING = MailboxSelection()


def metas(tree: dict[str, str]) -> list[MailboxMeta]:
    return [MailboxMeta(name=name, guid=guid, uidvalidity=1, uidnext=1)
            for name, guid in tree.items()]


def settle(source: dict[str, str], dest: dict[str, str],
           selection: MailboxSelection = EVERYTHING) -> tuple[dict[str, str], TreePlan, int]:
    """Apply plans until settled; returns the destination tree after deletes, the last plan
    and how many renames it took."""
    dest = dict(dest)
    renames = 0
    for _ in range(50):
        plan = plan_tree(metas(source), metas(dest), selection, match_by_guid=True)
        if plan.rename:
            old, new = plan.rename
            assert new not in dest
            dest[new] = dest.pop(old)
            renames += 1
        for created in plan.creates:
            dest[created.name] = created.guid
        if plan.settled:
            for doomed in plan.deletes:
                del dest[doomed.name]
            return dest, plan, renames
    raise AssertionError("tree never settled")


def test_creates_missing_and_deletes_extra_mailboxes() -> None:
    after, plan, renames = settle({"INBOX": "1", "Sent": "2"}, {"INBOX": "1", "Old": "9"})
    assert after == {"INBOX": "1", "Sent": "2"}
    assert renames == 0
    assert {(s.name, d.name) for s, d in plan.pairs} == {("INBOX", "INBOX"), ("Sent", "Sent")}


def test_rename_on_the_source_is_a_rename_on_the_destination() -> None:
    after, _, renames = settle({"INBOX": "1", "Archive/2024": "2"},
                               {"INBOX": "1", "Old archive": "2"})
    assert after == {"INBOX": "1", "Archive/2024": "2"}
    assert renames == 1


def test_swapped_names_go_through_a_temporary_name() -> None:
    after, _, renames = settle({"A": "1", "B": "2"}, {"A": "2", "B": "1"})
    assert after == {"A": "1", "B": "2"}
    assert renames == 3


def test_same_name_other_guid_is_replaced() -> None:
    after, plan, _ = settle({"Work": "new"}, {"Work": "old"})
    assert after == {"Work": "new"}
    assert [(s.guid, d.guid) for s, d in plan.pairs] == [("new", "new")]


def test_matching_by_name_without_guids() -> None:
    plan = plan_tree(metas({"Work": "new"}), metas({"Work": "old"}), EVERYTHING,
                     match_by_guid=False)
    assert plan.settled and [(s.guid, d.guid) for s, d in plan.pairs] == [("new", "old")]


def test_excluded_mailboxes_are_left_alone_on_both_sides() -> None:
    selection = MailboxSelection.from_options(SyncOptions(excludes=("Junk*", "Tr?sh")))
    after, _, _ = settle({"INBOX": "1", "Junk": "2", "Junk/old": "3", "Trash": "4"},
                         {"Junk": "8", "Trash": "9", "Extra": "7"}, selection)
    assert after == {"INBOX": "1", "Junk": "8", "Trash": "9"}


def test_single_mailbox_by_name_or_guid() -> None:
    source, dest = {"INBOX": "1", "Sent": "2"}, {"Other": "5"}
    by_name = MailboxSelection.from_options(SyncOptions(mailbox="Sent"))
    assert settle(source, dest, by_name)[0] == {"Other": "5", "Sent": "2"}
    by_guid = MailboxSelection.from_options(SyncOptions(mailbox_guid="1"))
    assert settle(source, dest, by_guid)[0] == {"Other": "5", "INBOX": "1"}


def test_subscriptions_follow_the_source_within_the_selection() -> None:
    selection = MailboxSelection.from_options(SyncOptions(excludes=("Private",)))
    plan = plan_tree(metas({"INBOX": "1"}), metas({"INBOX": "1"}), selection,
                     match_by_guid=True, source_subscriptions=frozenset({"INBOX", "Gone"}),
                     dest_subscriptions=frozenset({"Private", "Stale"}))
    assert plan.subscriptions == {"INBOX", "Gone", "Private"}


def test_tilde_names_are_copied_with_a_warning() -> None:
    after, plan, _ = settle({"~backup": "1"}, {})
    assert after == {"~backup": "1"}
    assert plan.warnings == (("~backup", REFUSED_BY_DOVECOT),)


def test_masks() -> None:
    assert mask_pattern("Lists/*").fullmatch("Lists/a/b")
    assert mask_pattern("a?c").fullmatch("abc") and not mask_pattern("a?c").fullmatch("abbc")
    assert mask_pattern("a.b+").fullmatch("a.b+") and not mask_pattern("a.b").fullmatch("axb")
