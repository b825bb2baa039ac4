"""`dmf backup` through the real entry point: grammar, users, owners, output, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dmf.mail.sample import write_sample_maildir
from tests.cli.dmf_process import run_dmf, run_dmf_on_terminal, tab_rows

EVENT_PREFIX = "dsync(tester): Info: dmf-event "
STATUS = "messages uidnext uidvalidity guid unseen vsize"


@pytest.fixture
def source(open_tmp: Path) -> Path:
    path = open_tmp / "source"
    write_sample_maildir(path, messages=20)
    return path


def status_of(maildir: Path) -> set[tuple[str, ...]]:
    done = run_dmf("-o", f"mail_location=maildir:{maildir}", "-f", "tab", "mailbox", "status",
                   STATUS, "*")
    assert done.returncode == 0, done.stderr
    return tab_rows(done.stdout)[1]


def events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line[len(EVENT_PREFIX):]) for line in stderr.splitlines()
            if line.startswith(EVENT_PREFIX)]


def test_backup_then_noop_rerun_with_events_and_summary(source: Path, open_tmp: Path) -> None:
    dest = open_tmp / "dest"
    first = run_dmf("-v", "-o", f"mail_location=maildir:{source}", "backup", f"maildir:{dest}")
    assert first.returncode == 0, first.stderr
    assert status_of(dest) == status_of(source)
    saved = events(first.stderr)
    assert sum(int(e["saved"]) for e in saved) == 20
    assert {"mailbox", "saved", "expunged", "flag_changes", "bytes", "errors"} <= set(saved[0])
    assert "dsync(tester): Info: Done: 5 mailboxes, 20 messages saved" in first.stderr
    assert first.stdout == ""

    again = run_dmf("-v", "-o", f"mail_location=maildir:{source}", "backup", f"maildir:{dest}")
    assert again.returncode == 0, again.stderr
    assert all(e["saved"] == 0 and e["expunged"] == 0 for e in events(again.stderr))
    quiet = run_dmf("-o", f"mail_location=maildir:{source}", "backup", f"maildir:{dest}")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_bundled_reverse_full_flags_pull_into_the_user(source: Path, open_tmp: Path) -> None:
    mine = open_tmp / "mine"
    done = run_dmf("-o", f"mail_location=maildir:{mine}", "backup", "-fR", f"maildir:{source}")
    assert done.returncode == 0, done.stderr
    assert status_of(mine) == status_of(source)


def test_mailbox_and_exclude_use_the_store_separator(source: Path, open_tmp: Path) -> None:
    dest = open_tmp / "dest"
    done = run_dmf("-o", f"mail_location=maildir:{source}", "backup", "-x", "Archive.*",
                   "-x", "Sent", f"maildir:{dest}")
    assert done.returncode == 0, done.stderr
    names = {row[0] for row in status_of(dest)}
    assert names == {"INBOX", "Archive", "Entwürfe"}


def test_state_is_printed_and_accepted_back(source: Path, open_tmp: Path) -> None:
    dest = open_tmp / "dest"
    location = f"mail_location=maildir:{source}"
    first = run_dmf("-o", location, "backup", "-s", "", f"maildir:{dest}")
    assert first.returncode == 0, first.stderr
    state = first.stdout.strip()
    assert state and "\n" not in state
    second = run_dmf("-o", location, "backup", "-s", state, f"maildir:{dest}")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip()


def test_userdb_users_replica_and_owner(source: Path, open_tmp: Path) -> None:
    users = open_tmp / "users"
    users.write_text(
        f"alice:{{PLAIN}}x:5001:5002::{open_tmp}/alice::userdb_mail=maildir:{source} "
        f"userdb_mail_replica=maildir:{open_tmp}/replica/%u\n"
        f"bob:{{PLAIN}}x:5003:5003::{open_tmp}/bob::userdb_mail=maildir:{source}\n")
    config = open_tmp / "dmf.conf"
    config.write_text(f"userdb {{\n  driver = passwd-file\n  args = {users}\n}}\n")
    done = run_dmf("-c", str(config), "backup", "-u", "alice", "-d")
    assert done.returncode == 0, done.stderr
    replica = open_tmp / "replica" / "alice"
    assert status_of(replica) == status_of(source)
    if os.geteuid() == 0:  # the mail files belong to the userdb's uid/gid, not to root
        owners = {(p.stat().st_uid, p.stat().st_gid) for p in replica.rglob("*")}
        assert owners == {(5001, 5002)}

    unknown = run_dmf("-c", str(config), "backup", "-u", "mallory", "-d")
    assert unknown.returncode == 67
    assert unknown.stderr == "dsync(mallory): Error: User doesn't exist: mallory\n"
    # -A: bob has no mail_replica: his error is reported, alice is still backed up
    every = run_dmf("-c", str(config), "backup", "-A", "-d")
    assert every.returncode == 78
    assert every.stderr.startswith("dsync(bob): Error: -d: no mail_replica")
    listed = open_tmp / "list"
    listed.write_text("alice\n\n")
    assert run_dmf("-c", str(config), "backup", "-F", str(listed), "-d").returncode == 0
    home = run_dmf("-c", str(config), "user", "-f", "home", "alice")
    assert (home.returncode, home.stdout) == (0, f"{open_tmp}/alice\n")
    full = run_dmf("-c", str(config), "user", "bob")
    assert full.stdout.splitlines()[:2] == ["userdb: bob", "  uid       : 5003"]
    assert run_dmf("-c", str(config), "user", "nobody").returncode == 67


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership changes need root")
def test_mail_uid_setting_owns_new_files(source: Path, open_tmp: Path) -> None:
    dest = open_tmp / "dest"
    done = run_dmf("-o", f"mail_location=maildir:{source}", "-o", "mail_uid=5005",
                   "-o", "mail_gid=5006", "backup", f"maildir:{dest}")
    assert done.returncode == 0, done.stderr
    assert {(p.stat().st_uid, p.stat().st_gid) for p in dest.rglob("*")} == {(5005, 5006)}


@pytest.mark.parametrize("argv, code, stderr_start", [
    (["-o", "mail_location", "backup", "maildir:/x"], 78, "Error: "),
    (["-o", "mail_location=bogus:/x", "backup", "maildir:/y"], 78,
     "dsync(tester): Error: mail location 'bogus:/x'"),
    (["-o", "mail_location=maildir:relative", "backup", "maildir:/y"], 78,
     "dsync(tester): Error: mail location"),
    (["-o", "Bad Key=1", "backup", "maildir:/y"], 78, "Error: Invalid -o parameter"),
    (["backup", "--no-such-option", "maildir:/y"], 64, ""),
    (["backup", "-t", "yesterday-ish", "maildir:/y"], 64, "Error: Invalid date"),
    (["backup", "-g", "nothex", "maildir:/y"], 64, "Error: Invalid -g parameter: nothex"),
    (["backup"], 64, "Error: backup: give either -d or a destination"),
    (["backup", "-u", "a", "-A", "maildir:/y"], 64, "Error: -u, -A and -F"),
    (["backup", "remote:host", "-o"], 64, ""),
])
def test_bad_command_lines(argv: list[str], code: int, stderr_start: str) -> None:
    done = run_dmf(*argv)
    assert done.returncode == code, done.stderr
    assert done.stderr.startswith(stderr_start)
    assert "Traceback" not in done.stderr


def test_missing_source_garbage_state_and_remote(open_tmp: Path, source: Path) -> None:
    dest = open_tmp / "dest"
    missing = run_dmf("-o", f"mail_location=maildir:{open_tmp}/absent", "backup",
                      f"maildir:{dest}")
    assert missing.returncode == 68
    assert missing.stderr.startswith("dsync(tester): Error: mail location")
    assert missing.stderr.count("\n") == 1 and not dest.exists()
    garbage = run_dmf("-o", f"mail_location=maildir:{source}", "backup", "-s", "%%garbage%%",
                      f"maildir:{dest}")
    assert garbage.returncode == 64, garbage.stderr
    # refused while parsing the command line, before any destination is created
    assert garbage.stderr.startswith("Error: Invalid -s state") and not dest.exists()
    remote = run_dmf("-o", f"mail_location=maildir:{source}", "backup", "tcp:replica:12345")
    assert remote.returncode == 65 and "not supported" in remote.stderr


def test_mail_fsync_modes_back_up_alike_and_a_bad_value_touches_nothing(open_tmp: Path,
                                                                        source: Path) -> None:
    for mode in ("always", "never"):
        dest = open_tmp / f"dest-{mode}"
        done = run_dmf("-o", f"mail_location=maildir:{source}", "-o", f"mail_fsync={mode}",
                       "backup", f"maildir:{dest}")
        assert done.returncode == 0, done.stderr
        assert status_of(dest) == status_of(source)
    dest = open_tmp / "dest-bad"
    bad = run_dmf("-o", f"mail_location=maildir:{source}", "-o", "mail_fsync=sometimes",
                  "backup", f"maildir:{dest}")
    assert bad.returncode == 78, bad.stderr
    assert "mail_fsync=sometimes: expected optimized, always or never" in bad.stderr
    assert bad.stderr.count("\n") == 1 and not dest.exists()


def test_read_only_destination(open_tmp: Path, source: Path) -> None:
    mount_point = open_tmp / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs",
                              str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        done = run_dmf("-o", f"mail_location=maildir:{source}", "backup",
                       f"maildir:{mount_point}/dest")
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
    assert done.returncode in (77, 65), done.stderr
    assert done.stderr.startswith("dsync(tester): Error: ")
    assert done.stderr.count("\n") == 1


def test_progress_bar_only_when_stderr_is_a_terminal(source: Path, open_tmp: Path) -> None:
    code, seen = run_dmf_on_terminal("-v", "-o", f"mail_location=maildir:{source}", "backup",
                                     f"maildir:{open_tmp}/dest")
    assert code == 0
    assert "━".encode() in seen  # rich's bar
    assert b"Info: dmf-event {" in seen and b"Info: Done: 5 mailboxes" in seen
