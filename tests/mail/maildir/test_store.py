"""MaildirStorage through the Storage protocol: round trips, stable identities, writes."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import pytest

from dmf.errors import NotFoundError, NotPossibleError
from dmf.mail.location import open_storage
from dmf.mail.maildir.store import MaildirStorage
from dmf.mail.model import DELETED, FLAGGED, SEEN, MailboxChange, MessageMeta
from dmf.mail.storage import Body, Capability, Mailbox, Storage
from tests.mail.copying import copy_all


def storage_at(path: Path, **kwargs: object) -> MaildirStorage:
    return open_storage(f"maildir:{path}", user="u", home=None, **kwargs)  # type: ignore[arg-type]


def snapshot(storage: MaildirStorage) -> dict[str, tuple]:
    """Everything a client can observe, bodies included."""
    result = {}
    for meta in storage.list_mailboxes():
        box = storage.mailbox(meta.name)
        messages = [(message, box.open_body(message.uid).read()) for message in box.messages()]
        result[meta.name] = (box.meta, messages)
    return result


def bytes_body(content: bytes) -> Body:
    return Body(open=lambda: io.BytesIO(content))


def tmp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("tmp/*")]


def test_protocols_and_capabilities(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    assert isinstance(storage, Storage)
    assert isinstance(storage.mailbox("INBOX"), Mailbox)
    assert storage.capabilities == {Capability.SETTABLE_UIDS, Capability.MESSAGE_GUIDS,
                                    Capability.MAILBOX_GUIDS, Capability.HARDLINKS,
                                    Capability.SUBSCRIPTIONS, Capability.LOCKING,
                                    Capability.SUMMARIES, Capability.FORK_SAFE,
                                    Capability.STAGED_BODIES}


def test_copy_keeps_everything_byte_exact(tmp_path: Path, sample_maildir: Path) -> None:
    source = storage_at(sample_maildir)
    destination = storage_at(tmp_path / "dest", create=True)
    copy_all(source, destination)
    expected = snapshot(source)
    copied = snapshot(storage_at(tmp_path / "dest"))
    for name, (meta, messages) in expected.items():
        copied_meta, copied_messages = copied[name]
        assert copied_meta == meta
        assert [(m.uid, m.guid, m.flags, m.keywords, m.internal_date, m.size, body)
                for m, body in copied_messages] == \
            [(m.uid, m.guid, m.flags, m.keywords, m.internal_date, m.size, body)
             for m, body in messages]
    assert set(copied) == set(expected)
    assert storage_at(tmp_path / "dest").subscriptions() == source.subscriptions()
    assert tmp_files(tmp_path / "dest") == []
    for name in expected:
        assert storage_at(tmp_path / "dest").mailbox(name).summary() == \
            source.mailbox(name).summary()


def test_summary_changes_with_flags_keywords_and_messages(sample_maildir: Path) -> None:
    def summary() -> object:
        return storage_at(sample_maildir).mailbox("Sent").summary()

    seen = [summary()]
    box = storage_at(sample_maildir).mailbox("Sent")
    first = next(box.messages())
    box.update_flags([MailboxChange(first.uid, first.flags ^ {FLAGGED}, first.keywords)])
    box.commit()
    seen.append(summary())
    box.update_flags([MailboxChange(first.uid, first.flags, first.keywords | {"$New"})])
    box.commit()
    seen.append(summary())
    box.expunge([first.uid])
    box.commit()
    seen.append(summary())
    assert len(set(seen)) == 4
    assert summary() == seen[-1]


def test_placement_new_without_flags_cur_with(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    box = storage.mailbox("INBOX")
    plain = box.save(MessageMeta(0, "g1"), bytes_body(b"a\n"))
    seen = box.save(MessageMeta(0, "g2", flags=frozenset({SEEN})), bytes_body(b"b\n"))
    tagged = box.save(MessageMeta(0, "g3", keywords=frozenset({"$Work"})), bytes_body(b"c\n"))
    box.commit()
    assert (plain, seen, tagged) == (1, 2, 3)
    new = os.listdir(tmp_path / "m/new")
    cur = sorted(os.listdir(tmp_path / "m/cur"))
    assert len(new) == 1 and ":" not in new[0]
    assert cur[0].endswith(":2,S") or cur[1].endswith(":2,S")
    assert any(name.endswith(":2,a") for name in cur)
    assert (tmp_path / "m/dovecot-keywords").read_text() == "0 $Work\n"


def test_flag_changes_rename_in_place_and_new_may_keep_a_suffix(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    box = storage.mailbox("INBOX")
    box.save(MessageMeta(0, "g1"), bytes_body(b"a\n"))
    box.commit()
    box.update_flags([MailboxChange(1, frozenset({SEEN, FLAGGED}), frozenset({"x", "y"}))])
    box.commit()
    (name,) = os.listdir(tmp_path / "m/new")
    assert name.endswith(":2,FSab")
    reread = storage_at(tmp_path / "m").mailbox("INBOX")
    (message,) = reread.messages()
    assert (message.flags, message.keywords) == ({SEEN, FLAGGED}, {"x", "y"})
    reread.update_flags([MailboxChange(1, frozenset({DELETED}))])
    reread.commit()
    (message,) = storage_at(tmp_path / "m").mailbox("INBOX").messages()
    assert (message.flags, message.keywords) == ({DELETED}, frozenset())


def test_settable_uids_uid_state_and_refusals(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    box = storage.create_mailbox("Box", guid="0123456789abcdef0123456789abcdef",
                                 uidvalidity=42)
    assert box.save(MessageMeta(17, "g17"), bytes_body(b"x")) == 17
    assert box.save(MessageMeta(0, "next"), bytes_body(b"y")) == 18
    with pytest.raises(NotPossibleError, match="UID 17 already exists"):
        box.save(MessageMeta(17, "again"), bytes_body(b"z"))
    with pytest.raises(NotPossibleError, match="cannot set"):
        box.set_uid_state(42, 18)
    box.set_uid_state(43, 100)
    box.commit()
    meta = storage_at(tmp_path / "m").mailbox("Box").meta
    assert (meta.guid, meta.uidvalidity, meta.uidnext) == \
        ("0123456789abcdef0123456789abcdef", 43, 100)
    with pytest.raises(NotPossibleError, match="already exists"):
        storage.create_mailbox("Box")


def test_identities_of_a_tree_without_uidlist_are_stable(sample_maildir: Path) -> None:
    first = storage_at(sample_maildir)
    metas = {meta.name: meta for meta in first.list_mailboxes()}
    messages = list(first.mailbox("Archive/2024").messages())
    assert [m.uid for m in messages] == list(range(1, len(messages) + 1))
    second = storage_at(sample_maildir)
    assert {meta.name: meta for meta in second.list_mailboxes()} == metas
    assert list(second.mailbox("Archive/2024").messages()) == messages


def test_new_files_get_next_uids_and_vanished_ones_drop(sample_maildir: Path) -> None:
    storage = storage_at(sample_maildir)
    before = list(storage.mailbox("Sent").messages())
    first = sample_maildir / ".Sent" / before[0].guid  # no G field: the GUID is the basename
    found = next(iter((sample_maildir / ".Sent").glob(f"*/{before[0].guid}*")))
    found.unlink()
    (sample_maildir / ".Sent/new/2000000000.M1P1.late").write_bytes(b"late\n")
    (sample_maildir / ".Sent/new/1900000000.M1P1.early").write_bytes(b"early\n")
    after = list(storage_at(sample_maildir).mailbox("Sent").messages())
    assert [m.uid for m in after] == [m.uid for m in before[1:]] + \
        [before[-1].uid + 1, before[-1].uid + 2]
    assert [m.guid for m in after[-2:]] == ["1900000000.M1P1.early", "2000000000.M1P1.late"]
    assert not first.exists()


def test_uncommitted_saves_are_visible_to_their_mailbox(tmp_path: Path) -> None:
    box = storage_at(tmp_path / "m", create=True).mailbox("INBOX")
    box.save(MessageMeta(0, "g", flags=frozenset({SEEN}), internal_date=1_234_567_890),
             bytes_body(b"pending\n"))
    (message,) = box.messages()
    assert (message.guid, message.flags, message.internal_date, message.size) == \
        ("g", {SEEN}, 1_234_567_890, 8)
    assert box.open_body(message.uid).read() == b"pending\n"
    box.commit()
    assert list(box.messages()) == [message]


def test_expunge_and_uncommitted_batches(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    box = storage.mailbox("INBOX")
    for number in range(3):
        box.save(MessageMeta(0, f"g{number}"), bytes_body(b"m%d\n" % number))
    box.commit()
    box.expunge([2])
    box.commit()
    assert [m.guid for m in storage_at(tmp_path / "m").mailbox("INBOX").messages()] == \
        ["g0", "g2"]
    box.save(MessageMeta(0, "dropped"), bytes_body(b"never committed\n"))
    box.close()
    assert tmp_files(tmp_path / "m") == []
    assert [m.guid for m in storage_at(tmp_path / "m").mailbox("INBOX").messages()] == \
        ["g0", "g2"]


def test_hard_link_when_same_filesystem_and_date(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    source = tmp_path / "body"
    source.write_bytes(b"linked\n")
    opener = functools.partial(open, source, "rb")
    os.utime(source, (1_600_000_000, 1_600_000_000))
    box = storage.mailbox("INBOX")
    box.save(MessageMeta(0, "same", internal_date=1_600_000_000),
             Body(open=opener, path=str(source)))
    box.save(MessageMeta(0, "other-date", internal_date=1_500_000_000),
             Body(open=opener, path=str(source)))
    box.commit()
    linked, copied = (os.stat(box.body_path(uid)) for uid in (1, 2))
    assert linked.st_ino == os.stat(source).st_ino
    assert copied.st_ino != linked.st_ino and int(copied.st_mtime) == 1_500_000_000
    assert int(os.stat(source).st_mtime) == 1_600_000_000


def test_rename_and_delete_mailboxes(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    storage.create_mailbox("A").save(MessageMeta(0, "a"), bytes_body(b"a"))
    storage.mailbox("A").commit()
    child = storage.create_mailbox("A/Child", guid="11111111111111111111111111111111")
    child.save(MessageMeta(0, "c"), bytes_body(b"c"))
    child.commit()
    storage.rename_mailbox("A", "B")
    reread = storage_at(tmp_path / "m")
    assert {meta.name for meta in reread.list_mailboxes()} == {"INBOX", "B", "B/Child"}
    assert reread.mailbox("B/Child").meta.guid == "11111111111111111111111111111111"
    reread.delete_mailbox("B/Child")
    assert {meta.name for meta in reread.list_mailboxes()} == {"INBOX", "B"}
    assert sorted(os.listdir(tmp_path / "m")) == [".B", "cur", "dovecot-uidlist", "new", "tmp"]
    with pytest.raises(NotPossibleError):
        reread.delete_mailbox("INBOX")
    with pytest.raises(NotFoundError):
        reread.mailbox("Nope")
    with pytest.raises(NotPossibleError, match="INBOX"):
        reread.rename_mailbox("B", "INBOX")
    reread.create_mailbox("C")
    with pytest.raises(NotPossibleError, match="already exists"):
        reread.rename_mailbox("B", "C")


def test_subscriptions_round_trip(tmp_path: Path) -> None:
    storage = storage_at(tmp_path / "m", create=True)
    storage.set_subscriptions(["INBOX", "Entwürfe/Sub", "inbox/x"])
    assert storage_at(tmp_path / "m").subscriptions() == {"INBOX", "Entwürfe/Sub", "INBOX/x"}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_files_belong_to_the_given_owner(tmp_path: Path, sample_maildir: Path) -> None:
    destination = open_storage(f"maildir:{tmp_path}/owned/Maildir", user="u", home=None,
                               owner=(5000, 5001), create=True)
    copy_all(storage_at(sample_maildir), destination)
    with destination.lock(1):
        pass
    paths = [tmp_path / "owned/Maildir", *(tmp_path / "owned/Maildir").rglob("*")]
    assert {(os.lstat(path).st_uid, os.lstat(path).st_gid) for path in paths} == {(5000, 5001)}


@pytest.mark.parametrize("claimed_size, claimed_vsize", [(4, 5), (999, 1000), (0, None)])
def test_file_name_sizes_are_the_bytes_written_whatever_the_metadata_claims(
        tmp_path: Path, claimed_size: int, claimed_vsize: int | None) -> None:
    """Dovecot trusts ,S= and ,W= in a filename: a source whose size metadata lies must not
    produce a name that disagrees with the file (the save writes straight to the name the
    metadata gives, and renames when the bytes say otherwise)."""
    storage = storage_at(tmp_path / "m", create=True)
    box = storage.mailbox("INBOX")
    box.save(MessageMeta(0, "g1", size=claimed_size, vsize=claimed_vsize),
             bytes_body(b"abc\n"))
    box.commit()
    assert tmp_files(tmp_path / "m") == []
    [name] = os.listdir(tmp_path / "m/new")
    assert ",S=4" in name and (",W=" not in name or ",W=5" in name)
    [stored] = storage_at(tmp_path / "m").mailbox("INBOX").messages()
    assert stored.size == 4


def test_setting_the_uid_state_it_already_has_leaves_the_uidlist_alone(tmp_path: Path) -> None:
    box = storage_at(tmp_path / "m", create=True).mailbox("INBOX")
    box.save(MessageMeta(7, "g7"), bytes_body(b"seven\n"))
    box.commit()
    uidlist = tmp_path / "m" / "dovecot-uidlist"
    before = uidlist.stat()
    box.set_uid_state(box.meta.uidvalidity, 8)
    box.commit()
    after = uidlist.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    box.set_uid_state(box.meta.uidvalidity, 9)
    box.commit()
    assert uidlist.stat().st_ino != before.st_ino
    assert storage_at(tmp_path / "m").mailbox("INBOX").meta.uidnext == 9
