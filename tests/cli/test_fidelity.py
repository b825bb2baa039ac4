"""Inspection commands against real doveadm where review found them to differ: a store whose
directory does not exist yet, INDEX= / CONTROL= paths, keyword order, exact mailbox masks, and
-A / -F output."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.cli.dmf_process import run_dmf, tab_rows
from tests.fixtures.dovecot import Doveadm


def _dmf(location: str, *args: str) -> tuple[int, str]:
    done = run_dmf("-o", f"mail_location={location}", *args)
    return done.returncode, done.stdout


def _maildir(root: Path, folders: tuple[str, ...] = ()) -> Path:
    for directory in (root, *(root / f".{folder}" for folder in folders)):
        for sub in ("cur", "new", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.interop
@pytest.mark.parametrize("command", [
    ("mailbox", "status", "messages vsize", "INBOX/*", "INBOX", "*"),
    ("mailbox", "status", "messages vsize", "INBOX"),
    ("-f", "tab", "mailbox", "status", "messages vsize", "*"),
    ("mailbox", "list"),
    ("mailbox", "list", "*"),
    ("mailbox", "list", "Nope"),
    ("fetch", "uid flags", "all"),
    ("mailbox", "path", "-t", "control", "Sub"),
])
def test_missing_store_reads_as_doveadm(doveadm: Doveadm, command: tuple[str, ...]) -> None:
    """A user not migrated yet: doveadm sees an empty store (exit 0), not an error."""
    theirs_root = doveadm.new_dir() / "Maildir"
    ours_root = doveadm.new_dir() / "Maildir"
    theirs = doveadm.run(theirs_root, *command)
    code, ours = _dmf(f"maildir:{ours_root}", *command)
    assert code == 0
    assert ours == theirs.replace(str(theirs_root), str(ours_root))


def test_missing_store_single_unknown_mailbox_is_not_found(tmp_path: Path) -> None:
    done = run_dmf("-o", f"mail_location=maildir:{tmp_path}/absent", "mailbox", "status",
                   "messages", "Nope")
    assert done.returncode == 68
    assert "Mailbox doesn't exist: Nope" in done.stderr
    assert not (tmp_path / "absent").exists()


def test_backup_of_missing_source_stays_not_found(tmp_path: Path) -> None:
    done = run_dmf("-o", f"mail_location=maildir:{tmp_path}/absent", "backup",
                   f"maildir:{tmp_path}/dest")
    assert done.returncode == 68 and done.stderr.count("\n") == 1


@pytest.mark.interop
@pytest.mark.parametrize("settings", ["", ":INDEX={idx}", ":INDEX={idx}:CONTROL={ctl}",
                                      ":INDEX=MEMORY", ":LAYOUT=fs:INDEX={idx}",
                                      ":LAYOUT=fs:CONTROL={ctl}"])
def test_mailbox_path_equals_doveadm(doveadm: Doveadm, settings: str) -> None:
    base = doveadm.new_dir()
    location = f"maildir:{base}/Maildir" + settings.format(idx=base / "idx", ctl=base / "ctl")
    separator = "/" if "LAYOUT=fs" in settings else "."
    for kind in ("index", "control", "dir"):
        for name in ("INBOX", "Sub", f"Sub{separator}Child"):
            theirs = doveadm.run(location, "mailbox", "path", "-t", kind, name)
            assert _dmf(location, "mailbox", "path", "-t", kind, name) == (0, theirs), \
                (kind, name)


def test_mailbox_path_alt_is_a_usage_error_as_in_dovecot_23(tmp_path: Path) -> None:
    done = run_dmf("-o", f"mail_location=maildir:{tmp_path}", "mailbox", "path", "-t", "alt",
                   "INBOX")
    assert done.returncode == 64


@pytest.mark.interop
def test_fetch_keywords_in_doveadm_order(doveadm: Doveadm, tmp_path: Path) -> None:
    """Keyword order is the order Dovecot's index meets them in, not alphabetical and not
    dovecot-keywords' numbering."""
    root = _maildir(tmp_path / "Maildir")
    (root / "dovecot-keywords").write_text("0 zeta\n1 alpha\n2 mid\n")
    (root / "dovecot-uidlist").write_text("3 V1 N4\n1 :1.a.host\n2 :2.b.host\n3 :3.c.host\n")
    for base, letters in (("1.a.host", "Sb"), ("2.b.host", "ab"), ("3.c.host", "abc")):
        (root / "cur" / f"{base}:2,{letters}").write_text("Subject: x\n\nbody\n")
    code, ours = _dmf(f"maildir:{root}", "-f", "tab", "fetch", "uid flags", "mailbox", "INBOX")
    theirs = doveadm.run(doveadm.copy(root), "-f", "tab", "fetch", "uid flags", "mailbox",
                         "INBOX").replace(" \\Recent", "")
    assert code == 0 and ours == theirs
    assert "alpha zeta mid" in ours


@pytest.mark.interop
@pytest.mark.parametrize("masks", [("Nope",), ("nope1", "nope2"), ("INBOX", "Nope"),
                                   ("S*", "Nope"), ("sub",), ("Sub", "Sub")])
def test_mailbox_list_exact_names_as_doveadm(doveadm: Doveadm, tmp_path: Path,
                                             masks: tuple[str, ...]) -> None:
    root = _maildir(tmp_path / "Maildir", ("Sub", "Sub.Child"))
    theirs = doveadm.run(doveadm.copy(root), "mailbox", "list", *masks)
    assert _dmf(f"maildir:{root}", "mailbox", "list", *masks) == (0, theirs)
    theirs = doveadm.run(doveadm.copy(root), "mailbox", "status", "messages", "Sub*",
                         *masks)
    code, ours = _dmf(f"maildir:{root}", "mailbox", "status", "messages", "Sub*", *masks)
    assert code == 0 and sorted(ours.splitlines()) == sorted(theirs.splitlines())


def test_users_file_prints_a_user_column(tmp_path: Path) -> None:
    """-F / -A: doveadm's sticky `username` column (title hidden) leads every row."""
    for name, folders in (("ann", ("Work",)), ("bob", ())):
        _maildir(tmp_path / name, folders)
    users = tmp_path / "users"
    users.write_text("ann\nbob\n")
    location = f"mail_location=maildir:{tmp_path}/%u"
    done = run_dmf("-o", location, "-f", "tab", "mailbox", "status", "-F", str(users),
                   "messages", "*")
    assert done.returncode == 0, done.stderr
    assert tab_rows(done.stdout) == (["Username", "mailbox", "messages"],
                                     {("ann", "INBOX", "0"), ("ann", "Work", "0"),
                                      ("bob", "INBOX", "0")})
    flow = run_dmf("-o", location, "mailbox", "list", "-F", str(users)).stdout
    assert sorted(flow.splitlines()) == ["ann INBOX", "ann Work", "bob INBOX"]
    fetch = run_dmf("-o", location, "-f", "tab", "fetch", "-F", str(users), "uid", "all")
    assert fetch.returncode == 0 and fetch.stdout == "Username\tuid\n"
    both = run_dmf("-o", location, "mailbox", "list", "-u", "ann", "-F", str(users))
    assert both.returncode == 64


@pytest.mark.interop
def test_status_firstsaved_equals_doveadm(doveadm: Doveadm, tmp_path: Path) -> None:
    """firstsaved is the save date (ctime) of the lowest UID, `never` for an empty mailbox."""
    root = _maildir(tmp_path / "Maildir", ("Empty",))
    (root / "dovecot-uidlist").write_text("3 V1 N3\n1 :1.a.host\n2 :2.b.host\n")
    for base in ("2.b.host", "1.a.host"):  # the lowest UID is saved last
        (root / "cur" / f"{base}:2,S").write_text("Subject: x\n\nbody\n")
    copy = doveadm.copy(root)
    time.sleep(1.1)
    (copy / "cur" / "1.a.host:2,S").chmod(0o640)  # a newer ctime than UID 2's
    ctimes = [int((copy / "cur" / f"{base}:2,S").stat().st_ctime) for base in ("1.a.host",
                                                                             "2.b.host")]
    assert ctimes[0] > ctimes[1]
    fields = "messages uidnext firstsaved"
    theirs = doveadm.run(copy, "-f", "tab", "mailbox", "status", fields, "*")
    code, ours = _dmf(f"maildir:{copy}", "-f", "tab", "mailbox", "status", fields, "*")
    assert code == 0 and tab_rows(ours) == tab_rows(theirs)
    assert ("Empty", "0", "1", "never") in tab_rows(ours)[1]
    assert ("INBOX", "2", "3", str(ctimes[0])) in tab_rows(ours)[1]
    everything = _dmf(f"maildir:{copy}", "mailbox", "status", "all", "INBOX")[1]
    assert everything.split()[-1].startswith("firstsaved=")
    refused = run_dmf("-o", f"mail_location=maildir:{copy}", "mailbox", "status", "-t",
                      "firstsaved", "INBOX")
    assert (refused.returncode, refused.stderr) == (
        64, "Error: Status field firstsaved can't be used with -t\n")


def test_all_users_from_the_userdb(tmp_path: Path) -> None:
    """-A runs for every userdb user (one whose store is not created yet included); with -F
    a user the userdb does not know is skipped with an Info line (exit 0), as doveadm does."""
    _maildir(tmp_path / "ann", ("Work",))
    users = tmp_path / "passwd"
    users.write_text(f"ann:{{PLAIN}}x::::{tmp_path}::userdb_mail=maildir:{tmp_path}/ann\n"
                     f"new:{{PLAIN}}x::::{tmp_path}::userdb_mail=maildir:{tmp_path}/new\n")
    config = tmp_path / "dmf.conf"
    config.write_text(f"userdb {{\n  driver = passwd-file\n  args = {users}\n}}\n")
    every = run_dmf("-c", str(config), "-f", "tab", "mailbox", "list", "-A")
    assert every.returncode == 0, every.stderr
    assert tab_rows(every.stdout) == (["Username", "mailbox"], {
        ("ann", "INBOX"), ("ann", "Work"), ("new", "INBOX")})
    names = tmp_path / "names"
    names.write_text("ann\nmallory\n")
    listed = run_dmf("-c", str(config), "mailbox", "status", "-F", str(names), "messages",
                     "INBOX")
    assert listed.returncode == 0
    assert listed.stdout == "ann INBOX messages=0\n"
    assert listed.stderr == "dmf(mallory): Info: User no longer exists, skipping\n"
    as_json = run_dmf("-c", str(config), "-f", "json", "mailbox", "list", "-F", str(names))
    assert as_json.stdout.startswith('[{"username":"ann","mailbox":')
    assert not (tmp_path / "new").exists()  # listing a missing store does not create it


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership of created files needs root")
def test_status_of_inbox_creates_the_store_as_the_users(tmp_path: Path) -> None:
    """Run as root, the store `mailbox status ... INBOX` creates belongs to whoever owns the
    tree it lands in, so Dovecot (running as the user) can use it later."""
    parent = tmp_path / "home"
    parent.mkdir()
    os.chown(parent, 5000, 5000)
    done = run_dmf("-o", f"mail_location=maildir:{parent}/Maildir", "mailbox", "status",
                   "uidnext messages", "INBOX")
    assert (done.returncode, done.stdout) == (0, "INBOX messages=0 uidnext=1\n")
    owners = {(path.stat().st_uid, path.stat().st_gid) for path in parent.rglob("*")}
    assert owners == {(5000, 5000)}
