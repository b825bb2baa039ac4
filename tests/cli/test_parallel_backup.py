"""`dmf backup` with mailboxes written by several processes at once (`dmf_sync_processes`):
the same tree as one process writes, every message reported once through the parent, and a lost
process or a killed dmf costs only a re-run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmf.mail.sample import write_sample_maildir
from tests.cli.dmf_process import run_dmf, run_dmf_on_terminal
from tests.fixtures.processes import alive, children_of
from tests.interop.trees import leftovers, message_files, tree_view

MESSAGES = 3000  # ~48 MB of work by dmf's measure: enough for 2 processes, a few s of test
WRITER = re.compile(r"\.M\d+P(\d+)Q")
EVENT = "dsync(tester): Info: dmf-event "


@pytest.fixture(scope="module")
def source(module_open_tmp: Path) -> Path:
    path = module_open_tmp / "source"
    write_sample_maildir(path, messages=MESSAGES)
    return path


def backup_argv(source: Path, dest: Path, processes: int, *flags: str) -> list[str]:
    return [*flags, "-o", f"dmf_sync_processes={processes}", "-o",
            f"mail_location=maildir:{source}", "backup", f"maildir:{dest}"]


def writers(dest: Path) -> set[int]:
    """The pids that wrote the message files (Dovecot's basename holds the writer's pid)."""
    return {int(WRITER.search(path.name)[1]) for path in message_files(dest)}  # type: ignore[index]


def start_and_wait_for_children(argv: list[str], count: int = 2,
                                ) -> tuple[subprocess.Popen[bytes], list[int]]:
    env = {**os.environ, "USER": "tester"}
    child = subprocess.Popen([sys.executable, "-m", "dmf", *argv], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        found = children_of(child.pid)
        if len(found) == count:
            return child, found
        time.sleep(0.0005)
    child.kill()
    pytest.fail(f"dmf never ran {count} sync processes")


def test_two_processes_write_what_one_writes_and_report_every_message(source: Path,
                                                                      open_tmp: Path) -> None:
    one, two = open_tmp / "one", open_tmp / "two"
    alone = run_dmf(*backup_argv(source, one, 1))
    assert alone.returncode == 0, alone.stderr
    shared = run_dmf(*backup_argv(source, two, 2, "-v", "-D"))
    assert shared.returncode == 0, shared.stderr
    assert tree_view(two) == tree_view(one) == tree_view(source)
    assert len(writers(one)) == 1
    assert len(writers(two)) == 2 and not writers(two) & writers(one)
    lines = shared.stderr.splitlines()
    assert sum("saved a message of" in line for line in lines) == MESSAGES  # -D, each once
    events = [line for line in lines if line.startswith(EVENT)]
    assert len(events) == 5 == len({line.split('"saved"')[0] for line in events})
    assert f"Done: 5 mailboxes, {MESSAGES} messages saved" in shared.stderr
    again = run_dmf(*backup_argv(source, two, 2, "-v"))
    assert again.returncode == 0 and "Done: 5 mailboxes, 0 messages saved" in again.stderr


def flattened(source: Path, path: Path) -> Path:
    """The messages of `source` all in the INBOX of a new tree at `path` (keywords dropped:
    their letters are per folder), as many users keep their mail."""
    for subdir in ("cur", "new", "tmp"):
        (path / subdir).mkdir(parents=True)
    for file in message_files(source):
        base, _, flags = file.name.partition(":2,")
        kept = "".join(letter for letter in flags if letter.isupper())
        (path / "cur" / f"{base}:2,{kept}").write_bytes(file.read_bytes())
    return path


@pytest.fixture(scope="module")
def inbox_only(module_open_tmp: Path, source: Path) -> Path:
    return flattened(source, module_open_tmp / "inbox-only")


def forks(argv: list[str], trace: Path) -> int:
    """How many processes a dmf run started (strace's count of clone calls; threads, which
    carry CLONE_THREAD, are not processes)."""
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o",
                           str(trace), sys.executable, "-m", "dmf", *argv],
                          env={**os.environ, "USER": "tester"}, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return sum(1 for line in trace.read_text().splitlines()
               if ("clone" in line or "fork" in line) and "CLONE_THREAD" not in line)


def test_each_process_makes_its_commits_durable_before_it_ends(source: Path,
                                                               open_tmp: Path) -> None:
    """A commit's last rename (the uidlist) is synced when the store closes; a sync process
    closes its own before it reports back (mail_fsync=always: an fsync per directory, which
    strace shows with its path). A commit's tail may run in a thread of the process: strace
    names the thread, which is counted as its process."""
    dest = open_tmp / "dest"
    trace = open_tmp / "sync.trace"
    done = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", "trace=rename,fsync,clone,clone3", "-o", str(trace),
         sys.executable, "-m", "dmf", *backup_argv(source, dest, 2, "-o", "mail_fsync=always")],
        env={**os.environ, "USER": "tester"}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    process: dict[str, str] = {}  # thread id -> its process's id
    unsettled: dict[str, set[str]] = {}  # pid -> mailbox dirs whose uidlist it renamed
    starting_thread: set[str] = set()  # a clone of a thread, "<unfinished ...>" in its line
    threads = 0
    for line in trace.read_text().splitlines():
        tid, call = line.split(maxsplit=1)  # strace pads short pids
        pid = process.get(tid, tid)
        if "clone" in call and "CLONE_THREAD" in call:
            starting_thread.add(tid)
        started = re.search(r"clone3?.* = (\d+)$", call)
        if started and tid in starting_thread:
            starting_thread.discard(tid)
            process[started[1]] = pid
            threads += 1
        renamed = re.match(r'rename\(".*", "(.*)/dovecot-uidlist"\)', call)
        if renamed:
            unsettled.setdefault(pid, set()).add(renamed[1])
        synced = re.match(r"fsync\(\d+<([^>]*)>", call)  # also "<unfinished ...>"
        if synced:
            unsettled.get(pid, set()).discard(synced[1])
    assert threads > 0, "the commits' tails ran in threads"
    assert len(unsettled) == 3  # the parent (creating the mailboxes) and both processes
    assert all(not left for left in unsettled.values()), unsettled


def test_one_mailbox_is_shared_out_only_from_1500_messages(open_tmp: Path) -> None:
    """Below that, forking and handing bodies over cost more than they save."""
    small = open_tmp / "small"
    write_sample_maildir(small, messages=1000)
    inbox = flattened(small, open_tmp / "inbox-1000")
    assert forks(backup_argv(inbox, open_tmp / "dest", 3), open_tmp / "trace") == 0
    assert tree_view(open_tmp / "dest") == tree_view(inbox)


def test_one_big_mailbox_is_written_by_several_processes(inbox_only: Path,
                                                         open_tmp: Path) -> None:
    """Its owner commits every message in UID order under names of its own; the bodies were
    written by the other processes too (seen in which processes made unnamed files in its
    tmp/)."""
    one, three = open_tmp / "one", open_tmp / "three"
    alone = run_dmf(*backup_argv(inbox_only, one, 1))
    assert alone.returncode == 0, alone.stderr
    trace = open_tmp / "openat.trace"
    shared = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace), sys.executable, "-m",
         "dmf", *backup_argv(inbox_only, three, 3, "-v")],
        env={**os.environ, "USER": "tester"}, capture_output=True, text=True, check=False)
    assert shared.returncode == 0, shared.stderr
    assert tree_view(three) == tree_view(one) == tree_view(inbox_only)
    assert len(message_files(three)) == MESSAGES and leftovers(three) == []
    assert len(writers(three)) == 1  # one process named and committed them all
    staging = {line.split()[0] for line in trace.read_text().splitlines()
               if "O_TMPFILE" in line and f"{three}/tmp" in line}
    assert len(staging) >= 2
    assert f"Done: 1 mailboxes, {MESSAGES} messages saved" in shared.stderr


@pytest.mark.parametrize("victim", [0, 1, 2])
def test_a_process_lost_while_writing_a_shared_mailbox_costs_at_most_a_rerun(
        inbox_only: Path, open_tmp: Path, victim: int) -> None:
    """Whichever of the processes dies: a helper's part is written by the owner and the run
    ends well; the owner's loss fails the mailbox with 75. Either way nothing half-done stays
    and a re-run ends identical."""
    dest = open_tmp / "dest"
    run, workers = start_and_wait_for_children(backup_argv(inbox_only, dest, 3), count=3)
    time.sleep(0.3)  # into the copying
    os.kill(sorted(workers)[victim], signal.SIGKILL)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode in (0, 75), stderr
    if run.returncode == 0:
        assert tree_view(dest) == tree_view(inbox_only)
    else:
        assert "ended without a result (killed by SIGKILL); run again" in stderr.decode()
    rerun = run_dmf(*backup_argv(inbox_only, dest, 3))
    assert rerun.returncode == 0, rerun.stderr
    assert tree_view(dest) == tree_view(inbox_only)
    assert len(message_files(dest)) == MESSAGES and leftovers(dest) == []


def test_a_small_run_stays_in_one_process(open_tmp: Path) -> None:
    small, dest = open_tmp / "small", open_tmp / "dest"
    write_sample_maildir(small, messages=200)  # under the 500 a fork is worth
    done = run_dmf(*backup_argv(small, dest, 4))
    assert done.returncode == 0, done.stderr
    assert tree_view(dest) == tree_view(small)
    assert len(writers(dest)) == 1


def test_a_lost_process_fails_its_mailboxes_with_75_and_a_rerun_finishes(
        source: Path, open_tmp: Path) -> None:
    dest = open_tmp / "dest"
    run, (victim, survivor) = start_and_wait_for_children(backup_argv(source, dest, 2, "-v"))
    os.kill(victim, signal.SIGKILL)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 75, stderr
    assert "ended without a result (killed by SIGKILL); run again" in stderr.decode()
    assert "Error:" in stderr.decode().splitlines()[-1]
    rerun = run_dmf(*backup_argv(source, dest, 2))
    assert rerun.returncode == 0, rerun.stderr
    assert tree_view(dest) == tree_view(source)
    assert len(message_files(dest)) == MESSAGES and leftovers(dest) == []


def test_sync_processes_die_with_dmf(source: Path, open_tmp: Path) -> None:
    dest = open_tmp / "dest"
    run, workers = start_and_wait_for_children(backup_argv(source, dest, 2))
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(alive(pid) for pid in workers)
    rerun = run_dmf(*backup_argv(source, dest, 2))
    assert rerun.returncode == 0, rerun.stderr
    assert tree_view(dest) == tree_view(source)
    assert len(message_files(dest)) == MESSAGES and leftovers(dest) == []


def test_the_progress_bar_follows_mailboxes_of_both_processes(source: Path,
                                                              open_tmp: Path) -> None:
    code, seen = run_dmf_on_terminal(*backup_argv(source, open_tmp / "dest", 2, "-v"))
    assert code == 0, seen[-2000:]
    assert "━".encode() in seen  # rich's bar, fed from the replayed reports
    assert f"Done: 5 mailboxes, {MESSAGES} messages saved".encode() in seen
    assert b"Traceback" not in seen and b"Error" not in seen
    assert len(writers(open_tmp / "dest")) == 2


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_process_count_is_a_configuration_error(source: Path, open_tmp: Path,
                                                      value: str) -> None:
    done = run_dmf("-o", f"dmf_sync_processes={value}", "-o",
                   f"mail_location=maildir:{source}", "backup", f"maildir:{open_tmp / 'd'}")
    assert done.returncode == 78
    assert done.stderr.strip().endswith(
        f"dmf_sync_processes={value}: expected a whole number of at least 1")
    assert not (open_tmp / "d").exists()
