"""Where a saved body waits for its commit: an unnamed file held open where the filesystem has
them, else `tmp/dmf.<name>` (a filesystem without them, a process short of descriptors). Either
way nothing is visible before the commit, everything is after it, and a killed writer leaves
nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dmf.errors import NotPossibleError
from dmf.mail.location import open_storage
from dmf.mail.maildir import bodies
from dmf.mail.model import MessageMeta
from dmf.mail.storage import Body, Mailbox, StagedBody
from tests.fixtures.services import unavailable
from tests.mail.maildir.test_store import bytes_body

MESSAGES = 100

# Saves MESSAGES bodies into INBOX of argv[1], says "saved" with what tmp/ holds, then commits
# when told to on stdin ("commit") or waits to be killed.
WRITER = """
import io, os, sys
from dmf.mail.location import open_storage
from dmf.mail.model import MessageMeta
from dmf.mail.storage import Body
box = open_storage("maildir:" + sys.argv[1], user="u", home=None, create=True).mailbox("INBOX")
for uid in range(1, int(sys.argv[2]) + 1):
    content = b"Subject: %d\\n\\nbody %d\\n" % (uid, uid)
    box.save(MessageMeta(uid, f"guid{uid}", internal_date=1_600_000_000 + uid),
             Body(open=lambda content=content: io.BytesIO(content)))
print("saved", len(os.listdir(os.path.join(sys.argv[1], "tmp"))), flush=True)
if sys.stdin.readline().strip() == "commit":
    box.commit()
    print("committed", flush=True)
"""


def start_writer(root: Path, limit: int | None = None) -> subprocess.Popen[str]:
    def lower_limit() -> None:
        import resource

        if limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(MESSAGES)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()},
                            preexec_fn=lower_limit)


def saved_then(writer: subprocess.Popen[str], root: Path, answer: str) -> int:
    """Waits for the writer's saves; checks that none is visible yet; tells it what next.
    Returns how many bodies waited in tmp/ under a name."""
    assert writer.stdout is not None and writer.stdin is not None
    said, in_tmp = writer.stdout.readline().split()
    assert said == "saved"
    assert os.listdir(root / "new") == [] and os.listdir(root / "cur") == []
    if answer:
        writer.stdin.write(answer + "\n")
        writer.stdin.flush()
    return int(in_tmp)


def committed(root: Path) -> dict[int, tuple[str, int, bytes]]:
    box = open_storage(f"maildir:{root}", user="u", home=None).mailbox("INBOX")
    return {m.uid: (m.guid, m.internal_date, box.open_body(m.uid).read())
            for m in box.messages()}


def expected() -> dict[int, tuple[str, int, bytes]]:
    return {uid: (f"guid{uid}", 1_600_000_000 + uid, b"Subject: %d\n\nbody %d\n" % (uid, uid))
            for uid in range(1, MESSAGES + 1)}


def finish(writer: subprocess.Popen[str]) -> None:
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "committed"
    assert writer.wait(timeout=30) == 0


def test_bodies_wait_unnamed_and_a_killed_writer_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "m"
    writer = start_writer(root)
    try:
        assert saved_then(writer, root, "") == 0  # tmp/ stays empty: the bodies are unnamed
        held = [os.readlink(f"/proc/{writer.pid}/fd/{fd}")
                for fd in os.listdir(f"/proc/{writer.pid}/fd")]
        assert sum(link.startswith(f"{root}/tmp/#") for link in held) == MESSAGES
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert committed(root) == {}
    assert [path for path in root.rglob("tmp/*")] == []


def test_unnamed_bodies_are_linked_at_the_commit(tmp_path: Path) -> None:
    root = tmp_path / "m"
    writer = start_writer(root)
    saved_then(writer, root, "commit")
    finish(writer)
    assert committed(root) == expected()
    assert os.listdir(root / "tmp") == []


def test_a_writer_short_of_descriptors_puts_the_rest_in_tmp(tmp_path: Path) -> None:
    root = tmp_path / "m"
    limit = bodies.FD_RESERVE + 40  # room for 40 unnamed files
    writer = start_writer(root, limit)
    assert saved_then(writer, root, "commit") == MESSAGES - 40
    finish(writer)
    assert committed(root) == expected()
    assert os.listdir(root / "tmp") == []


@pytest.fixture
def no_unnamed_files(tmp_path: Path) -> Iterator[Path]:
    """A FUSE mount (bindfs) of a directory: a real filesystem without O_TMPFILE, as NFS is."""
    backing, mountpoint = tmp_path / "backing", tmp_path / "fuse"
    backing.mkdir()
    mountpoint.mkdir()
    try:
        done = subprocess.run(["bindfs", str(backing), str(mountpoint)], capture_output=True,
                              text=True, check=False)
    except FileNotFoundError:
        unavailable("bindfs", "not installed (scripts/install-system-deps installs it as root)")
    if done.returncode != 0:
        unavailable("bindfs", done.stderr.strip())
    try:
        with pytest.raises(OSError):
            os.close(os.open(mountpoint, os.O_WRONLY | os.O_TMPFILE, 0o600))
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)


def test_a_filesystem_without_unnamed_files_stages_in_tmp(no_unnamed_files: Path) -> None:
    root = no_unnamed_files / "m"
    writer = start_writer(root)
    assert saved_then(writer, root, "commit") == MESSAGES
    finish(writer)
    assert committed(root) == expected()
    assert os.listdir(root / "tmp") == []


def test_dropped_and_expunged_saves_close_their_unnamed_files(tmp_path: Path) -> None:
    box = open_storage(f"maildir:{tmp_path}/m", user="u", home=None,
                       create=True).mailbox("INBOX")
    box.save(MessageMeta(1, "kept"), bytes_body(b"kept\n"))
    box.commit()
    descriptors = len(os.listdir("/proc/self/fd"))
    box.save(MessageMeta(2, "expunged"), bytes_body(b"expunged\n"))
    box.save(MessageMeta(3, "dropped"), bytes_body(b"dropped\n"))
    assert len(os.listdir("/proc/self/fd")) == descriptors + 2
    box.expunge([2])
    assert len(os.listdir("/proc/self/fd")) == descriptors + 1
    box.close()
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert list(committed(tmp_path / "m")) == [1]
    assert os.listdir(tmp_path / "m/tmp") == []


def stage(box: Mailbox, meta: MessageMeta, body: Body) -> StagedBody:
    staged = box.stage(meta, body)
    assert staged is not None
    return staged


def test_a_body_staged_in_another_process_is_saved_here(tmp_path: Path) -> None:
    """The split of a big mailbox: a helper process stages bodies and passes the descriptors
    (SCM_RIGHTS), the mailbox's owner saves them under their UIDs and names at its commit.
    Until then nothing of them is in the mailbox, and a refused UID closes its body."""
    box = open_storage(f"maildir:{tmp_path}/m", user="u", home=None,
                       create=True).mailbox("INBOX")
    box.save(MessageMeta(1, "here"), bytes_body(b"written here\n"))
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the helper: stage two bodies, send them, keep nothing
        try:
            staged = [stage(box, MessageMeta(uid, f"g{uid}", internal_date=1_500_000_000 + uid),
                                bytes_body(f"staged {uid}\n".encode())) for uid in (2, 3)]
            socket.send_fds(theirs, [json.dumps([[s.size, s.vsize] for s in staged]).encode()],
                            [s.fd for s in staged])
        finally:
            os._exit(0)
    data, fds, _flags, _ = socket.recv_fds(ours, 4096, 10)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    sizes = json.loads(data)
    assert len(fds) == 2 and committed(tmp_path / "m") == {}
    descriptors = len(os.listdir("/proc/self/fd"))
    with pytest.raises(NotPossibleError):  # UID 1 is taken: the body is closed, not kept
        box.save_staged(MessageMeta(1, "dup"), StagedBody(fds[1], *sizes[1]))
    assert len(os.listdir("/proc/self/fd")) == descriptors - 1
    box.save_staged(MessageMeta(2, "g2", internal_date=1_500_000_002),
                    StagedBody(fds[0], *sizes[0]))
    assert os.listdir(tmp_path / "m/new") == []
    box.commit()
    saved = committed(tmp_path / "m")
    assert saved.keys() == {1, 2}
    assert saved[2][2] == b"staged 2\n"
    assert saved[2][1] == 1_500_000_002  # the helper set the date on the file it wrote
    assert os.listdir(tmp_path / "m/tmp") == []
    assert len(os.listdir("/proc/self/fd")) == descriptors - 3  # and message 1's, committed
