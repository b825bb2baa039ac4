"""Running Debian's real doveadm against a Maildir, standalone (no Dovecot server): the other
side of the interop tests. doveadm writes index files into what it reads, so callers give it a
copy (`doveadm_copy`)."""

from __future__ import annotations

import calendar
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.services import unavailable

MAIL_UID = MAIL_GID = 5000
FETCH_FIELDS = "uid guid flags date.received size.physical"


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    guid: str
    flags: frozenset[str]  # system flags and keywords, \Recent left out
    date: int
    size: int


def chown_tree(root: Path) -> None:
    os.chown(root, MAIL_UID, MAIL_GID)
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(directory, name), MAIL_UID, MAIL_GID, follow_symlinks=False)


class Doveadm:
    """doveadm with a private config. Trees it touches must live under `workdir`, which the
    mail uid can traverse (pytest's own temp dirs are root-only)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("doveadm")
        if binary is None:
            unavailable("doveadm", "Dovecot's doveadm is not installed (apt-get install "
                        "dovecot-imapd)")
        if os.geteuid() != 0:
            unavailable("doveadm", "standalone doveadm needs root to switch to the mail uid")
        self.binary = binary
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o711)
        self.workdir = workdir
        self.home = workdir / "home"
        for sub in ("run", "state", "home"):
            (workdir / sub).mkdir(exist_ok=True)
        chown_tree(self.home)
        self.config = workdir / "dovecot.conf"
        self.config.write_text(f"base_dir = {workdir}/run\nstate_dir = {workdir}/state\n"
                               "log_path = /dev/stderr\nssl = no\n"
                               f"mail_location = maildir:{self.home}/Maildir\n")

    def copy(self, tree: Path, name: str) -> Path:
        """A copy of a Maildir (mtimes kept) owned by the mail uid, for doveadm to read."""
        dest = self.workdir / name
        shutil.copytree(tree, dest, symlinks=True)
        chown_tree(dest)
        return dest

    def run(self, location: str, *args: str, stdin: bytes | None = None) -> str:
        command = [self.binary, "-c", str(self.config), "-o", f"mail_location={location}",
                   "-o", f"mail_uid={MAIL_UID}", "-o", f"mail_gid={MAIL_GID}",
                   "-o", f"mail_home={self.home}", *args]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "USER": "dmftest", "TZ": "UTC"}
        done = subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=60,
                              check=False)
        if done.returncode != 0:
            raise AssertionError(f"{command} exited {done.returncode}: "
                                 f"{done.stderr.decode(errors='replace')}")
        return done.stdout.decode("utf-8", "surrogateescape")

    def table(self, location: str, *args: str) -> list[dict[str, str]]:
        """A `-f tab` command's rows as dicts."""
        lines = self.run(location, "-f", "tab", *args).rstrip("\n").split("\n")
        header = lines[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line]

    def fetch(self, location: str, mailbox: str) -> list[FetchedMessage]:
        rows = self.table(location, "fetch", FETCH_FIELDS, "mailbox", mailbox)
        return [FetchedMessage(
            uid=int(row["uid"]), guid=row["guid"],
            flags=frozenset(row["flags"].split()) - {"\\Recent"},
            date=calendar.timegm(time.strptime(row["date.received"], "%Y-%m-%d %H:%M:%S")),
            size=int(row["size.physical"])) for row in rows]

    def status(self, location: str, fields: str, mask: str = "*") -> dict[str, dict[str, str]]:
        return {row["mailbox"]: row for row in self.table(location, "mailbox", "status",
                                                             fields, mask)}

    def mailboxes(self, location: str) -> list[str]:
        return [line for line in self.run(location, "mailbox", "list").split("\n") if line]
