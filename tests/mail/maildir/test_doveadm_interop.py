"""Differential tests against Debian's real doveadm: what dmf writes, Dovecot reads with the
same UIDs, GUIDs, flags, keywords and dates; what Dovecot writes, dmf reads identically."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from dmf.errors import TemporaryError
from dmf.mail.location import open_storage
from dmf.mail.maildir.store import MaildirStorage
from dmf.mail.model import MessageMeta
from dmf.mail.storage import Body, Mailbox
from tests.fixtures.dovecot import Doveadm, FetchedMessage
from tests.mail.copying import copy_all

pytestmark = pytest.mark.interop


def dmf_view(storage: MaildirStorage, name: str) -> list[FetchedMessage]:
    box = storage.mailbox(name)
    return [FetchedMessage(on_disk_name(storage, name), message.uid, message.guid,
                           message.flags | message.keywords, message.internal_date,
                           message.size, body_sha256(box, message.uid))
            for message in box.messages()]


def body_sha256(box: Mailbox, uid: int) -> str:
    with box.open_body(uid) as body:
        return hashlib.sha256(body.read()).hexdigest()


def on_disk_name(storage: MaildirStorage, name: str) -> str:
    return name.replace("/", storage.separator)


def assert_same_as_doveadm(storage: MaildirStorage, location: str, doveadm: Doveadm) -> None:
    metas = {meta.name: meta for meta in storage.list_mailboxes()}
    ours = {on_disk_name(storage, name) for name in metas}
    theirs = set(doveadm.mailboxes(location))
    # doveadm also lists implied parents (\NoSelect) that have no directory of their own
    assert ours <= theirs
    assert all(any(other.startswith(extra + storage.separator) for other in ours)
               for extra in theirs - ours)
    status = doveadm.status(location, "uidvalidity uidnext guid messages")
    for name, meta in metas.items():
        row = status[on_disk_name(storage, name)]
        assert (int(row["uidvalidity"]), int(row["uidnext"]), row["guid"]) == \
            (meta.uidvalidity, meta.uidnext, meta.guid), name
        assert doveadm.fetch(location, on_disk_name(storage, name)) == dmf_view(storage, name)


def test_tree_written_by_dmf_reads_the_same_in_doveadm(tmp_path: Path, sample_maildir: Path,
                                                        doveadm: Doveadm) -> None:
    source = open_storage(f"maildir:{sample_maildir}", user="u", home=None)
    destination = open_storage(f"maildir:{tmp_path}/dest", user="u", home=None, create=True)
    copy_all(source, destination)
    copy = doveadm.copy(tmp_path / "dest")
    assert_same_as_doveadm(source, f"maildir:{copy}", doveadm)
    reread = open_storage(f"maildir:{tmp_path}/dest", user="u", home=None)
    for meta in source.list_mailboxes():
        assert dmf_view(reread, meta.name) == dmf_view(source, meta.name)
    subscribed = doveadm.mailboxes(copy, "-s")
    assert sorted(subscribed) == sorted(on_disk_name(source, name)
                                        for name in source.subscriptions())


def test_inbox_and_control_parameters_agree_with_doveadm(tmp_path: Path, sample_maildir: Path,
                                                        doveadm: Doveadm) -> None:
    def location(base: Path) -> str:
        return (f"maildir:{base}/Maildir:INBOX={base}/inbox:CONTROL={base}/control"
                f":INDEX={base}/index")

    source = open_storage(f"maildir:{sample_maildir}", user="u", home=None)
    destination = open_storage(location(tmp_path / "dest"), user="u", home=None, create=True)
    copy_all(source, destination)
    copy = doveadm.copy(tmp_path / "dest")
    assert_same_as_doveadm(destination, location(copy), doveadm)


def test_fs_layout_written_by_dmf_reads_the_same_in_doveadm(tmp_path: Path,
                                                            sample_maildir: Path,
                                                            doveadm: Doveadm) -> None:
    source = open_storage(f"maildir:{sample_maildir}", user="u", home=None)
    destination = open_storage(f"maildir:{tmp_path}/fs:LAYOUT=fs", user="u", home=None,
                               create=True)
    assert destination.separator == "/"
    copy_all(source, destination)
    copy = doveadm.copy(tmp_path / "fs")
    location = f"maildir:{copy}:LAYOUT=fs"
    assert_same_as_doveadm(destination, location, doveadm)


def test_tree_written_by_doveadm_reads_the_same_in_dmf(tmp_path: Path, sample_maildir: Path,
                                                       doveadm: Doveadm) -> None:
    backup = doveadm.backup(sample_maildir)
    location = f"maildir:{backup}"
    doveadm.run(location, "flags", "add", "\\Flagged $Important", "mailbox", "Sent", "1:3")
    doveadm.run(location, "mailbox", "create", "Neu.Ordner")
    doveadm.run(location, "save", "-m", "Neu.Ordner", stdin=b"Subject: saved\n\nby doveadm\n")
    storage = open_storage(location, user="u", home=None)
    copy = doveadm.copy(backup)
    assert_same_as_doveadm(storage, f"maildir:{copy}", doveadm)
    flagged = [m for m in storage.mailbox("Sent").messages() if "$Important" in m.keywords]
    assert len(flagged) == 3


def test_recent_count_matches_doveadm(tmp_path: Path, sample_maildir: Path,
                                      doveadm: Doveadm) -> None:
    # a delivery after the uidlist was written: not in the uidlist yet, so \Recent
    (sample_maildir / "cur" / "1800000000.M1P1.late:2,S").write_bytes(b"Subject: late\n\n.\n")
    copy = doveadm.copy(sample_maildir)  # before dmf numbers the new files
    storage = open_storage(f"maildir:{sample_maildir}", user="u", home=None)
    names = [meta.name for meta in storage.list_mailboxes()]
    counts = {name: storage.mailbox(name).recent_count() for name in names}
    status = doveadm.status(f"maildir:{copy}", "recent")
    assert {name: int(status[on_disk_name(storage, name)]["recent"]) for name in names} == counts
    assert any(counts.values())


def test_dovecot_writes_between_scan_and_commit_are_kept(sample_maildir: Path,
                                                         doveadm: Doveadm) -> None:
    tree = doveadm.copy(sample_maildir)
    location = f"maildir:{tree}"
    box = open_storage(location, user="u", home=None, owner=doveadm.owner).mailbox("Sent")
    before = list(box.messages())
    doveadm.run(location, "save", "-m", "Sent", stdin=b"Subject: by dovecot\n\nmeanwhile\n")
    doveadm.run(location, "expunge", "mailbox", "Sent", "uid", str(before[0].uid))
    box.save(MessageMeta(0, "dmf-saved"), Body(open=lambda: io.BytesIO(b"by dmf\n")))
    box.commit()
    after = dmf_view(open_storage(location, user="u", home=None, owner=doveadm.owner), "Sent")
    dovecot_uid = before[-1].uid + 1
    assert [m.uid for m in after] == [m.uid for m in before[1:]] + [dovecot_uid, dovecot_uid + 1]
    assert after[-1].guid == "dmf-saved"  # ours moved above the UID Dovecot gave out
    assert doveadm.fetch(location, "Sent") == after


def test_a_requested_uid_taken_meanwhile_is_a_temporary_error(sample_maildir: Path,
                                                              doveadm: Doveadm) -> None:
    tree = doveadm.copy(sample_maildir)
    location = f"maildir:{tree}"
    box = open_storage(location, user="u", home=None, owner=doveadm.owner).mailbox("Sent")
    wanted = box.meta.uidnext
    doveadm.run(location, "save", "-m", "Sent", stdin=b"Subject: by dovecot\n\nmeanwhile\n")
    box.save(MessageMeta(wanted, "dmf-saved"), Body(open=lambda: io.BytesIO(b"by dmf\n")))
    with pytest.raises(TemporaryError, match=f"UID {wanted} was taken"):
        box.commit()
    box.close()
    assert [m.uid for m in doveadm.fetch(location, "Sent")][-1] == wanted
    assert not list(tree.rglob("tmp/*"))


def test_sizes_and_pop3_fields_agree_with_doveadm(tmp_path: Path, doveadm: Doveadm) -> None:
    storage = open_storage(f"maildir:{tmp_path}/m", user="u", home=None, create=True)
    box = storage.mailbox("INBOX")
    bodies = [b"Subject: lf\n\nbare\nlf\n", b"Subject: crlf\r\n\r\nok\r\n", b"\r\r\n\n\n"]
    for number, content in enumerate(bodies):
        box.save(MessageMeta(0, f"g{number}", pop3_uidl=f"uidl-{number}", pop3_order=9 - number),
                 Body(open=lambda content=content: io.BytesIO(content)))
    box.commit()
    ours = list(open_storage(f"maildir:{tmp_path}/m", user="u", home=None)
                .mailbox("INBOX").messages())
    assert [(m.pop3_uidl, m.pop3_order) for m in ours] == [("uidl-0", 9), ("uidl-1", 8),
                                                           ("uidl-2", 7)]
    copy = doveadm.copy(tmp_path / "m")
    rows = doveadm.table(f"maildir:{copy}", "fetch", "uid size.physical size.virtual pop3.uidl",
                         "mailbox", "INBOX")
    assert [(int(row["uid"]), int(row["size.physical"]), int(row["size.virtual"]),
             row["pop3.uidl"]) for row in rows] == \
        [(m.uid, m.size, m.vsize, m.pop3_uidl) for m in ours]



def test_keyword_letters_given_out_meanwhile_are_never_mixed_up(doveadm: Doveadm) -> None:
    location = f"maildir:{doveadm.new_dir()}/kw"
    storage = open_storage(location, user="u", home=None, owner=doveadm.owner, create=True)
    box = storage.create_mailbox("INBOX")
    box.save(MessageMeta(0, "first"), Body(open=lambda: io.BytesIO(b"first\n")))
    box.commit()
    box.save(MessageMeta(0, "mine", keywords=frozenset({"$Mine"})),
             Body(open=lambda: io.BytesIO(b"second\n")))
    doveadm.run(location, "flags", "add", "$Theirs", "mailbox", "INBOX", "uid", "1")
    with pytest.raises(TemporaryError, match="keywords changed"):
        box.commit()
    box.close()
    again = open_storage(location, user="u", home=None, owner=doveadm.owner).mailbox("INBOX")
    again.save(MessageMeta(0, "mine", keywords=frozenset({"$Mine"})),
               Body(open=lambda: io.BytesIO(b"second\n")))
    again.commit()
    fetched = {m.guid: m.flags for m in doveadm.fetch(location, "INBOX")}
    assert fetched == {"first": frozenset({"$Theirs"}), "mine": frozenset({"$Mine"})}


def test_writes_into_a_source_opened_without_owner_stay_dovecots(sample_maildir: Path,
                                                                doveadm: Doveadm) -> None:
    tree = doveadm.copy(sample_maildir)
    location = f"maildir:{tree}"
    (tree / ".Sent" / "new" / "1800000000.M1P1.delivered").write_bytes(b"Subject: new\n\n.\n")
    os.chown(tree / ".Sent" / "new" / "1800000000.M1P1.delivered", *doveadm.owner)
    storage = open_storage(location, user="u", home=None)  # no owner: as a sync's source
    views = {meta.name: dmf_view(storage, meta.name) for meta in storage.list_mailboxes()}
    created = [path for path in tree.rglob("*") if os.lstat(path).st_uid != doveadm.owner[0]]
    assert created == []
    assert doveadm.fetch(location, "Archive.2024") == views["Archive/2024"]
    assert doveadm.fetch(location, "Sent") == views["Sent"]
