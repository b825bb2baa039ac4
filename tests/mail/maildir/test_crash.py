"""Crashes: an interrupted commit is finished at the next open, a kill -9 at any point leaves
no uidlist entry without its file, no duplicate and (after the next open) no temp file."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmf.mail.location import open_storage
from dmf.mail.maildir import filenames, uidlist
from dmf.mail.maildir.store import MaildirStorage
from dmf.mail.model import MessageMeta
from dmf.mail.sample import write_sample_maildir
from dmf.mail.storage import Body
from tests.fixtures.processes import wait_until_zombie

RESUMABLE_COPY = """
import functools, sys
from dmf.mail.location import open_storage
from dmf.mail.storage import Body
from tests.fixtures.processes import wait_until_zombie
source = open_storage("maildir:" + sys.argv[1], user="u", home=None)
dest = open_storage("maildir:" + sys.argv[2], user="u", home=None, create=True)
have = {meta.name: meta for meta in dest.list_mailboxes()}
for meta in source.list_mailboxes():
    if meta.name in have and have[meta.name].guid == meta.guid:
        box = dest.mailbox(meta.name)
    else:
        box = dest.create_mailbox(meta.name, guid=meta.guid, uidvalidity=meta.uidvalidity)
    present = {message.uid for message in box.messages()}
    src = source.mailbox(meta.name)
    for count, message in enumerate(src.messages()):
        if message.uid not in present:
            path = src.body_path(message.uid)
            box.save(message, Body(open=functools.partial(open, path, "rb")))
        if count % 10 == 9:
            box.commit()
    box.set_uid_state(meta.uidvalidity, src.meta.uidnext)
    box.commit()
dest.set_subscriptions(source.subscriptions())
"""


def storage_at(path: Path) -> MaildirStorage:
    return open_storage(f"maildir:{path}", user="u", home=None)


def observable(storage: MaildirStorage) -> dict[str, list[tuple]]:
    result = {}
    for meta in storage.list_mailboxes():
        box = storage.mailbox(meta.name)
        result[meta.name] = [(m.uid, m.guid, m.flags, m.keywords, m.internal_date,
                              box.open_body(m.uid).read()) for m in box.messages()]
    return result


def assert_consistent(dest: Path, source: dict[str, list[tuple]]) -> None:
    """What a run cut off may leave: a prefix of the work, every entry with its file."""
    for control in [dest, *dest.glob(".*")]:
        path = control / "dovecot-uidlist"
        if not path.exists():
            continue
        parsed, _ = uidlist.parse(path.read_bytes(), str(path))
        on_disk = {filenames.split(name)[0] for sub in ("new", "cur")
                   for name in os.listdir(control / sub)}
        assert {record.basename for record in parsed.records.values()} <= on_disk
    state = observable(storage_at(dest))
    for name, messages in state.items():
        expected = {entry[0]: entry for entry in source[name]}
        assert all(entry == expected[entry[0]] for entry in messages), name
        assert len({entry[1] for entry in messages}) == len(messages), "duplicate GUID"
    assert not [path for path in dest.rglob("tmp/*")], "temp files left after reopening"
    assert not list(dest.rglob("*.dmf-pending"))


@pytest.mark.slow
def test_kill_9_at_several_points_then_rerun(tmp_path: Path) -> None:
    write_sample_maildir(tmp_path / "src", messages=600, seed=11)
    expected = observable(storage_at(tmp_path / "src"))
    dest = tmp_path / "dest"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", RESUMABLE_COPY, str(tmp_path / "src"),
                    str(tmp_path / "timing")], check=True, env=env)
    full_run = time.monotonic() - started
    command = [sys.executable, "-c", RESUMABLE_COPY, str(tmp_path / "src"), str(dest)]
    rng = random.Random(5)
    kills = 0
    for fraction in (0.2, 0.35, 0.5, 0.65, 0.8, 0.9):
        child = subprocess.Popen(command, env=env)
        time.sleep(full_run * fraction * rng.uniform(0.8, 1.0))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        if dest.exists():
            assert_consistent(dest, expected)
    subprocess.run(command, check=True, env=env)
    assert kills > 0
    assert observable(storage_at(dest)) == expected
    assert storage_at(dest).subscriptions() == storage_at(tmp_path / "src").subscriptions()


def one_committed_message(root: Path) -> bytes:
    """A mailbox holding one message, UID 1; its uidlist as committed."""
    box = open_storage(f"maildir:{root}", user="u", home=None, create=True).mailbox("INBOX")
    box.save(MessageMeta(0, "first"), Body(open=lambda: io.BytesIO(b"first\n")))
    box.commit()
    return (root / "dovecot-uidlist").read_bytes()


def test_an_interrupted_commit_is_finished_at_the_next_open(tmp_path: Path) -> None:
    committed = one_committed_message(tmp_path / "m")
    # the state a commit leaves when killed after writing the pending uidlist and moving one
    # of its two new bodies: one in cur/, one still in tmp/
    moved, waiting = filenames.new_base(6, None), filenames.new_base(7, None)
    (tmp_path / "m/cur" / f"{moved}:2,S").write_bytes(b"moved\n")
    (tmp_path / "m/tmp" / f"{filenames.TMP_PREFIX}{waiting}").write_bytes(b"waiting")
    (tmp_path / "m/dovecot-uidlist.dmf-pending").write_bytes(
        committed + f"5 Gg5 :{moved}\n6 Gg6 :{waiting}\n".encode())
    reopened = storage_at(tmp_path / "m").mailbox("INBOX")
    assert [(m.uid, m.guid, reopened.open_body(m.uid).read()) for m in reopened.messages()] == \
        [(1, "first", b"first\n"), (5, "g5", b"moved\n"), (6, "g6", b"waiting")]
    assert list((tmp_path / "m/tmp").iterdir()) == []
    assert not (tmp_path / "m/dovecot-uidlist.dmf-pending").exists()


def test_a_pending_record_whose_unnamed_body_died_is_dropped_and_saved_again(
        tmp_path: Path) -> None:
    committed = one_committed_message(tmp_path / "m")
    # killed after writing the pending uidlist and linking one of its two unnamed bodies: the
    # other body went with the process
    linked, lost = filenames.new_base(7, None), filenames.new_base(5, None)
    (tmp_path / "m/cur" / f"{linked}:2,S").write_bytes(b"linked\n")
    (tmp_path / "m/dovecot-uidlist.dmf-pending").write_bytes(
        committed + f"5 Gg5 :{linked}\n6 Gg6 :{lost}\n".encode())
    reopened = storage_at(tmp_path / "m").mailbox("INBOX")
    assert [(m.uid, m.guid) for m in reopened.messages()] == [(1, "first"), (5, "g5")]
    assert b"g6" not in (tmp_path / "m/dovecot-uidlist").read_bytes()
    reopened.save(MessageMeta(6, "g6"), Body(open=lambda: io.BytesIO(b"again\n")))
    reopened.commit()
    again = storage_at(tmp_path / "m").mailbox("INBOX")
    assert [(m.uid, m.guid, again.open_body(m.uid).read()) for m in again.messages()] == \
        [(1, "first", b"first\n"), (5, "g5", b"linked\n"), (6, "g6", b"again\n")]


def test_leftovers_of_a_dead_run_go_and_foreign_temp_files_stay(tmp_path: Path) -> None:
    storage = open_storage(f"maildir:{tmp_path}/m", user="u", home=None, create=True)
    storage.mailbox("INBOX").recent_count()  # numbers the mailbox
    dead = subprocess.Popen(["true"])
    dead.wait()
    ours = tmp_path / "m/tmp" / (filenames.TMP_PREFIX + filenames.new_base(3, None)
                                 .replace(f"P{os.getpid()}Q", f"P{dead.pid}Q"))
    ours.write_bytes(b"old")
    foreign = tmp_path / "m/tmp/1700000000.M1P1.otherhost"
    foreign.write_bytes(b"being delivered")
    list(storage_at(tmp_path / "m").mailbox("INBOX").messages())
    assert not ours.exists()
    assert foreign.exists()


def test_leftovers_of_a_killed_writer_not_yet_reaped_go_and_a_live_writers_stay(
        tmp_path: Path) -> None:
    """A writer killed with its parent is a zombie until init reaps it: dead all the same."""
    storage = open_storage(f"maildir:{tmp_path}/m", user="u", home=None, create=True)
    storage.mailbox("INBOX").recent_count()
    zombie = subprocess.Popen(["true"])
    live = subprocess.Popen(["sleep", "30"])
    try:
        wait_until_zombie(zombie.pid)  # exited, and not reaped until the end
        names = {pid: tmp_path / "m/tmp" / (filenames.TMP_PREFIX + filenames.new_base(3, None)
                                           .replace(f"P{os.getpid()}Q", f"P{pid}Q"))
                 for pid in (zombie.pid, live.pid)}
        for path in names.values():
            path.write_bytes(b"partial")
        list(storage_at(tmp_path / "m").mailbox("INBOX").messages())
        assert not names[zombie.pid].exists()
        assert names[live.pid].exists()
    finally:
        live.kill()
        live.wait()
        zombie.wait()
