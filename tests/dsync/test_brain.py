"""sync_user on real Maildirs (the project's sample tree): what a backup leaves behind, local
copies by hard link, renames, selection, date window, state, locking and per-mailbox errors.
Each scenario runs twice: in one process, and with its mailboxes split between two forked
processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmf.dsync import brain
from dmf.dsync.brain import sync_user
from dmf.dsync.options import MailboxResult, SyncOptions
from dmf.dsync.state import decode_state
from dmf.errors import NotPossibleError, TemporaryError, UsageError
from dmf.mail.location import open_storage
from dmf.mail.sample import write_sample_maildir
from dmf.mail.storage import Storage
from tests.dsync.summarizing import SummarizingStorage
from tests.interop.trees import message_files, tree_view


class RecordingReporter:
    per_message = True

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.saved = 0
        self.done: list[MailboxResult] = []
        self.warnings: list[tuple[str, str]] = []

    def mailbox_started(self, name: str, to_save: int) -> None:
        self.started.append((name, to_save))

    def message_saved(self, name: str, size: int) -> None:
        self.saved += 1

    def mailbox_done(self, result: MailboxResult) -> None:
        self.done.append(result)

    def warn(self, name: str, message: str) -> None:
        self.warnings.append((name, message))


RUN = {"processes": 1}  # set by the `processes` fixture for every test


@pytest.fixture(autouse=True, params=[1, 2], ids=["one-process", "two-processes"])
def processes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The processes `backup` asks for; with two, the work-size floor is lifted so that the
    small sample tree is shared out too."""
    monkeypatch.setattr(brain, "MIN_PARALLEL_MESSAGES", 0)
    monkeypatch.setitem(RUN, "processes", request.param)
    return request.param


def storage(root: Path, create: bool = False) -> Storage:
    return open_storage(f"maildir:{root}", user="tester", home=None, create=create)


def backup(source: Path, dest: Path, reporter: RecordingReporter | None = None,
           **options: object) -> tuple[int, list[MailboxResult], str | None]:
    src, dst = storage(source), storage(dest, create=True)
    options.setdefault("processes", RUN["processes"])
    try:
        result = sync_user(src, dst, SyncOptions(**options), reporter)  # type: ignore[arg-type]
    finally:
        src.close()
        dst.close()
    return result.exit_code, result.mailboxes, result.new_state


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    write_sample_maildir(root, messages=60)
    return root


@pytest.fixture
def backed_up(source: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    dest = tmp_path / "dest"
    code, _, _ = backup(source, dest)
    assert code == 0
    yield source, dest


def folder(root: Path, name: str) -> Path:
    return root if name == "INBOX" else root / ("." + name.replace("/", "."))


def test_backup_copies_everything_and_reports_it(source: Path, tmp_path: Path) -> None:
    reporter = RecordingReporter()
    code, results, _ = backup(source, tmp_path / "dest", reporter)
    assert code == 0
    assert tree_view(tmp_path / "dest") == tree_view(source)
    assert reporter.saved == sum(r.saved for r in results) == len(message_files(source))
    assert {r.name for r in reporter.done} == {r.name for r in results}
    assert all(r.created and not r.errors for r in results)
    assert sum(r.bytes_saved for r in results) == sum(p.stat().st_size
                                                      for p in message_files(source))


def test_state_is_printed_and_accepted_back(backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    code, results, state = backup(source, dest, state="")
    assert code == 0 and state is not None
    view = tree_view(source)["mailboxes"]
    decoded = {m.guid: m for m in decode_state(state).mailboxes}
    assert {(b["guid"], b["uidvalidity"], b["uidnext"] - 1) for b in view.values()} == \
        {(m.guid, m.uidvalidity, m.last_common_uid) for m in decoded.values()}
    code, results, again = backup(source, dest, state=state)
    assert code == 0 and again == state and not any(r.saved for r in results)


def test_garbage_state_changes_nothing(backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    next(iter(message_files(source))).unlink()
    before = tree_view(dest)
    with pytest.raises(UsageError, match="Invalid -s state"):
        backup(source, dest, state="not a state")
    assert tree_view(dest) == before


def test_message_moved_to_another_folder_is_hard_linked(backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    src = storage(source)
    sent = src.mailbox("Sent")
    first = next(sent.messages())
    moved, guid = Path(sent.body_path(first.uid) or ""), first.guid
    src.close()
    dst = storage(dest)
    box = dst.mailbox("Sent")
    uid = next(m.uid for m in box.messages() if m.guid == guid)
    inode = os.stat(box.body_path(uid)).st_ino
    dst.close()
    moved.rename(folder(source, "Archive") / "cur" / moved.name)
    code, results, _ = backup(source, dest)
    assert code == 0
    assert tree_view(dest) == tree_view(source)
    archive = {p.stat().st_ino for p in message_files(folder(dest, "Archive"))}
    assert inode in archive  # the same file, linked, not a second copy
    assert {r.name: (r.saved, r.expunged) for r in results if r.saved or r.expunged} == \
        {"Archive": (1, 0), "Sent": (0, 1)}


def test_folder_renamed_on_the_source_is_renamed_not_copied(
        backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    inodes = {p.stat().st_ino for p in message_files(folder(dest, "Sent"))}
    folder(source, "Sent").rename(folder(source, "Sent Items"))
    code, results, _ = backup(source, dest)
    assert code == 0
    assert tree_view(dest) == tree_view(source)
    assert {p.stat().st_ino for p in message_files(folder(dest, "Sent Items"))} == inodes
    assert not any(r.saved for r in results)


def test_selection_limits_what_is_touched(backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    for name in ("Sent", "Archive"):
        next(iter(message_files(folder(source, name)))).unlink()
    _, results, _ = backup(source, dest, mailbox="Sent")
    assert [(r.name, r.expunged) for r in results] == [("Sent", 1)]
    _, results, _ = backup(source, dest, excludes=("Arch*",))
    assert not any(r.expunged for r in results)
    _, results, _ = backup(source, dest)
    assert [(r.name, r.expunged) for r in results if r.expunged] == [("Archive", 1)]
    assert tree_view(dest) == tree_view(source)


def test_date_window(source: Path, tmp_path: Path) -> None:
    dates = sorted(int(p.stat().st_mtime) for p in message_files(source))
    start = dates[len(dates) // 2]
    code, results, _ = backup(source, tmp_path / "dest", start_date=start)
    assert code == 0
    kept = [int(p.stat().st_mtime) for p in message_files(tmp_path / "dest")]
    assert kept and min(kept) >= start
    assert sum(r.saved for r in results) == sum(1 for d in dates if d >= start)


def test_tilde_mailbox_is_copied_with_a_warning(source: Path, tmp_path: Path) -> None:
    for subdir in ("cur", "new", "tmp"):
        (source / ".~backup" / subdir).mkdir(parents=True)
    (source / ".~backup" / "new" / "1700000000.M1P1.host,S=17").write_bytes(
        b"Subject: t\n\nbody\n")
    reporter = RecordingReporter()
    code, _, _ = backup(source, tmp_path / "dest", reporter)
    assert code == 0
    assert [name for name, _ in reporter.warnings] == ["~backup"]
    assert "~backup" in tree_view(tmp_path / "dest")["mailboxes"]


def test_mailbox_error_is_recorded_and_the_rest_synced(source: Path, tmp_path: Path) -> None:
    bad = source / ".Bad\x01Name"
    for subdir in ("cur", "new", "tmp"):
        (bad / subdir).mkdir(parents=True)
    with pytest.raises(NotPossibleError) as caught:
        backup(source, tmp_path / "dest")
    results = caught.value.sync_result.mailboxes  # type: ignore[attr-defined]
    failed = [r for r in results if r.errors]
    assert len(failed) == 1 and "Bad" in failed[0].name
    good = tree_view(source)["mailboxes"]
    del good[failed[0].name]
    assert tree_view(tmp_path / "dest")["mailboxes"] == good


def test_lock_waits_then_gives_up(backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from dmf.mail.location import open_storage\n"
         f"s = open_storage('maildir:{dest}', user='tester', home=None)\n"
         "with s.lock(5):\n    print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(TemporaryError):
            backup(source, dest, lock_timeout=0.5)
        assert 0.4 <= time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    assert backup(source, dest, lock_timeout=2)[0] == 0


def test_fast_mode_lists_only_changed_mailboxes(backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    flagged = sorted((folder(source, "Sent") / "cur").iterdir())[0]
    base, _, letters = flagged.name.partition(":2,")
    flagged.rename(flagged.with_name(f"{base}:2,{''.join(sorted(set(letters) ^ {'F'}))}"))
    src, dst = SummarizingStorage(storage(source)), SummarizingStorage(storage(dest))
    try:
        result = sync_user(src, dst, SyncOptions())
        assert [(r.name, r.flag_changes) for r in result.mailboxes if r.flag_changes] == \
            [("Sent", 1)]
        assert set(src.listings) == {"Sent"}
        src.listings.clear()
        sync_user(src, dst, SyncOptions(full=True))
        assert len(src.listings) == len(src.list_mailboxes())
    finally:
        src.close()
        dst.close()
    assert tree_view(dest) == tree_view(source)


def test_destination_changes_are_undone(backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    files = sorted(message_files(dest))
    files[0].unlink()
    base, _, letters = files[1].name.partition(":2,")
    toggled = "T" if "T" not in letters else ""
    files[1].rename(files[1].parent.parent / "cur" / f"{base}:2,{toggled}")
    os.rename(folder(dest, "Archive"), folder(dest, "Old"))
    code, results, _ = backup(source, dest)
    assert code == 0
    assert tree_view(dest) == tree_view(source)


def test_new_uidvalidity_on_the_source_replaces_the_destination_mailbox(
        backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    uidlist = folder(source, "Sent") / "dovecot-uidlist"
    header, _, rest = uidlist.read_text().partition("\n")
    fields = [f"V{int(f[1:]) + 1000}" if f.startswith("V") else f for f in header.split()]
    uidlist.write_text(" ".join(fields) + "\n" + rest)
    code, results, _ = backup(source, dest)
    assert code == 0
    sent = next(r for r in results if r.name == "Sent")
    assert sent.saved == sent.expunged > 0
    assert tree_view(dest) == tree_view(source)


def test_uid_holding_another_message_on_the_source_is_replaced(
        backed_up: tuple[Path, Path]) -> None:
    source, dest = backed_up
    box = folder(source, "Sent")
    uidlist = box / "dovecot-uidlist"
    header, *records = uidlist.read_text().splitlines()
    uid, _, old_name = records[-1].partition(" ")
    old_base = old_name.rsplit(":", 1)[-1].split(",")[0]
    for path in message_files(box):
        if path.name.startswith(old_base):
            path.unlink()
    body = b"Subject: replaced\n\nanother message under the same UID\n"
    new_base = "1800000000.M1P1.replaced"
    (box / "cur" / f"{new_base},S={len(body)}:2,S").write_bytes(body)
    uidlist.write_text("\n".join([header, *records[:-1], f"{uid} :{new_base},S={len(body)}"])
                       + "\n")
    code, results, _ = backup(source, dest)
    assert code == 0
    sent = next(r for r in results if r.name == "Sent")
    assert (sent.saved, sent.expunged) == (1, 1)
    assert tree_view(dest) == tree_view(source)
