"""mailbox_parts with real forked processes and real Maildirs: an owner that stops half-way
through a shared mailbox (its save failed) collects every part it offered, closes every file it
was handed, and the processes that helped end normally."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

from dmf.dsync.apply import VANISHED
from dmf.dsync.mailbox_parts import PART_MESSAGES, shared_saves, stage_part
from dmf.dsync.parallel import Link, Part, run_forked
from dmf.dsync.plan import Save
from dmf.dsync.report import SilentReporter, SyncReporter
from dmf.mail.location import open_storage
from dmf.mail.model import MessageMeta
from dmf.mail.storage import Body, StagedBody

MESSAGES = 5 * PART_MESSAGES


def write_source(root: Path) -> None:
    store = open_storage(f"maildir:{root}", user="u", home=None, create=True)
    box = store.mailbox("INBOX")
    for uid in range(1, MESSAGES + 1):
        content = b"Subject: %d\n\nbody %d\n" % (uid, uid)
        box.save(MessageMeta(uid, f"g{uid}", size=len(content)),
                 Body(open=lambda content=content: io.BytesIO(content)))
    box.commit()
    store.close()


def test_an_owner_that_stops_half_way_collects_its_parts_and_leaks_no_file(
        tmp_path: Path) -> None:
    write_source(tmp_path / "source")
    source = open_storage(f"maildir:{tmp_path / 'source'}", user="u", home=None)
    dest = open_storage(f"maildir:{tmp_path / 'dest'}", user="u", home=None, create=True)
    source_box, dest_box = source.mailbox("INBOX"), dest.mailbox("INBOX")
    saves = [Save(meta) for meta in source_box.messages()]

    def work(link: Link[Any], reporter: SyncReporter) -> object:
        taken = link.take()
        if taken is None:
            return "nothing"
        if isinstance(taken, Part):  # a helper
            while isinstance(taken, Part):
                stage_part(taken, source_box, dest_box, lambda copy: None, link)
                taken = link.take()
            return "helped"
        deadline = time.monotonic() + 30
        while link.idle() < 2 and time.monotonic() < deadline:  # both others wait for work
            time.sleep(0.01)
        before = len(os.listdir("/proc/self/fd"))
        prepared = shared_saves(saves, link, 0, processes=3)
        staged = written = 0
        for count, (save, body) in enumerate(prepared, start=1):
            assert body != VANISHED
            if isinstance(body, StagedBody):
                dest_box.save_staged(save.meta, body)
                staged += 1
            else:
                dest_box.save(save.meta, Body(open=lambda uid=save.meta.uid:
                                                source_box.open_body(uid)))
                written += 1
            if count == 2 * PART_MESSAGES + 10:
                break  # a save failed here: the rest is not wanted
        prepared.close()  # type: ignore[attr-defined]
        dest_box.close()  # the batch is dropped, as a failed mailbox's is
        return staged, written, len(os.listdir("/proc/self/fd")) - before

    shares = run_forked(["INBOX"], 3, work, SilentReporter())
    outcomes = sorted((share.outcome for share in shares), key=repr)
    owner = next(outcome for outcome in outcomes if isinstance(outcome, tuple))
    staged, written, leaked = owner
    assert staged + written == 2 * PART_MESSAGES + 10
    assert staged > 0  # the others did write bodies for it
    assert leaked == 0
    assert all(outcome in ("helped", "nothing", owner) for outcome in outcomes)
    assert os.listdir(tmp_path / "dest" / "tmp") == []
    assert os.listdir(tmp_path / "dest" / "new") == [] == os.listdir(tmp_path / "dest" / "cur")
