"""A standalone doveadm (no server) over a Maildir, as an oracle for dmf's output.

doveadm refuses to touch mail as root, so the Maildir is chowned to an unprivileged uid and
doveadm is told to use it (`/work/shared/notes/services.md`: "doveadm without a running server").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.services import unavailable

MAIL_UID = 5000


@dataclass(frozen=True)
class Doveadm:
    workdir: Path

    def run(self, maildir: Path, *args: str, formatter: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        chown_tree(maildir, MAIL_UID)
        argv = ["doveadm", "-c", str(self.workdir / "dovecot.conf"),
                "-o", f"mail_uid={MAIL_UID}", "-o", f"mail_gid={MAIL_UID}",
                "-o", f"mail_home={self.workdir}", "-o", f"mail_location=maildir:{maildir}"]
        if formatter:
            argv += ["-f", formatter]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "USER": "tester",
               "TZ": os.environ.get("TZ", "UTC")}
        result = subprocess.run([*argv, *args], capture_output=True, text=True, env=env,
                                timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"doveadm {' '.join(args)} exited {result.returncode}: "
                                 f"{result.stderr}")
        return result


def chown_tree(root: Path, uid: int) -> None:
    if os.geteuid() != 0:
        return
    for directory, _, files in os.walk(root):
        os.chown(directory, uid, uid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, uid)


def make_doveadm(tmp_path: Path) -> Doveadm:
    if shutil.which("doveadm") is None:
        unavailable("doveadm", "Dovecot is not installed (dovecot-imapd)")
    if os.geteuid() != 0:
        unavailable("doveadm", "standalone doveadm needs root to switch to the mail uid")
    workdir = tmp_path / "doveadm"
    for sub in ("run", "state"):
        (workdir / sub).mkdir(parents=True)
    (workdir / "dovecot.conf").write_text(
        f"base_dir = {workdir}/run\nstate_dir = {workdir}/state\n"
        "log_path = /dev/stderr\nssl = no\n")
    chown_tree(workdir, MAIL_UID)
    return Doveadm(workdir)
