"""`dmf mailbox status|list|path` and `dmf fetch` against real doveadm on the same Maildir.

The Maildir is one that `dmf backup` wrote: dmf must read back what it wrote exactly as
Dovecot reads it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dmf.mail.sample import write_sample_maildir
from tests.cli.dmf_process import run_dmf, tab_rows
from tests.fixtures.dovecot import Doveadm

# highestmodseq and recent are Dovecot index state (dmf keeps no index): compared elsewhere
STATUS = "messages vsize uidnext uidvalidity guid unseen"
FETCH = ("uid guid flags size.physical size.virtual date.received date.saved "
         "hdr.message-id pop3.uidl mailbox")


@pytest.fixture(scope="module")
def backed_up(module_open_tmp: Path, doveadm: Doveadm) -> tuple[Doveadm, Path]:
    source = module_open_tmp / "source"
    write_sample_maildir(source, messages=40)
    dest = module_open_tmp / "dest"
    done = run_dmf("-o", f"mail_location=maildir:{source}", "backup", f"maildir:{dest}")
    assert done.returncode == 0, done.stderr
    doveadm.chown(dest)  # read in place: a copy would show other ctimes as date.saved
    return doveadm, dest


def dmf_on(maildir: Path, *args: str) -> str:
    done = run_dmf("-o", f"mail_location=maildir:{maildir}", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.interop
def test_mailbox_status_tab_equals_doveadm(backed_up: tuple[Doveadm, Path]) -> None:
    doveadm, dest = backed_up
    ours = tab_rows(dmf_on(dest, "-f", "tab", "mailbox", "status", STATUS, "*"))
    theirs = tab_rows(doveadm.run(dest, "-f", "tab", "mailbox", "status", STATUS, "*"))
    assert ours == theirs
    assert len(ours[1]) == 5


@pytest.mark.interop
def test_fetch_tab_equals_doveadm(backed_up: tuple[Doveadm, Path]) -> None:
    doveadm, dest = backed_up
    # doveadm first: what it writes into the tree changes files' ctime, which date.saved shows
    raw = doveadm.run(dest, "-f", "tab", "fetch", FETCH, "mailbox", "*")
    ours = tab_rows(dmf_on(dest, "-f", "tab", "fetch", FETCH, "mailbox", "*"))
    # \Recent is per session state of Dovecot's index, not a stored flag
    theirs = tab_rows(re.sub(r" ?\\Recent", "", raw))
    assert ours == theirs
    assert len(ours[1]) == 40


@pytest.mark.interop
def test_mailbox_list_and_path_equal_doveadm(backed_up: tuple[Doveadm, Path]) -> None:
    doveadm, dest = backed_up
    ours = dmf_on(dest, "mailbox", "list").splitlines()
    assert sorted(ours) == doveadm.mailboxes(dest)
    for kind in ("dir", "control", "index"):
        for name in ("INBOX", "Archive.2024", "Entwürfe"):
            assert dmf_on(dest, "mailbox", "path", "-t", kind, name) == \
                doveadm.run(dest, "mailbox", "path", "-t", kind, name)


def test_status_masks_total_and_json(backed_up: tuple[Doveadm, Path]) -> None:
    _, dest = backed_up
    flow = dmf_on(dest, "mailbox", "status", "messages", "Archive*", "inbox")
    assert [line.split()[0] for line in flow.splitlines()] == ["INBOX", "Archive",
                                                               "Archive.2024"]
    percent = dmf_on(dest, "mailbox", "list", "Archive%")
    assert percent.splitlines() == ["Archive"]  # % stops at the separator
    per_box = [int(line.split("=")[1]) for line in flow.splitlines()]
    total = dmf_on(dest, "mailbox", "status", "-t", "messages", "Archive*", "INBOX")
    assert total == f"messages={sum(per_box)}\n"
    rows = json.loads(dmf_on(dest, "-f", "json", "mailbox", "status", "all", "Sent"))
    assert set(rows[0]) == {"mailbox", "messages", "recent", "uidnext", "uidvalidity",
                            "unseen", "highestmodseq", "vsize", "guid", "firstsaved"}


def test_fetch_search_keys_narrow_the_messages(backed_up: tuple[Doveadm, Path]) -> None:
    _, dest = backed_up
    everything = dmf_on(dest, "-f", "tab", "fetch", "uid flags", "mailbox", "INBOX")
    _, rows = tab_rows(everything)
    seen = {uid for uid, flags in rows if "\\Seen" in flags}
    assert 0 < len(seen) < len(rows)
    _, only_seen = tab_rows(dmf_on(dest, "-f", "tab", "fetch", "uid", "mailbox", "INBOX",
                                   "seen"))
    assert {uid for (uid,) in only_seen} == seen
    _, first_two = tab_rows(dmf_on(dest, "-f", "tab", "fetch", "uid", "mailbox", "INBOX",
                                   "uid", "1:2"))
    assert first_two == {("1",), ("2",)}


def test_inspection_errors_exit_as_doveadm(backed_up: tuple[Doveadm, Path]) -> None:
    _, dest = backed_up
    location = f"mail_location=maildir:{dest}"
    missing = run_dmf("-o", location, "mailbox", "status", "messages", "NoSuch")
    assert missing.returncode == 68
    assert missing.stderr == ("Error: Mailbox NoSuch: Failed to lookup mailbox status: "
                              "Mailbox doesn't exist: NoSuch\n")
    bad_field = run_dmf("-o", location, "mailbox", "status", "bogus", "INBOX")
    assert (bad_field.returncode, bad_field.stderr) == (64, "Error: Unknown status field: "
                                                            "bogus\n")
    bad_fetch = run_dmf("-o", location, "fetch", "uid nosuch", "mailbox", "INBOX")
    assert bad_fetch.returncode == 64 and bad_fetch.stderr.startswith("Error: Unknown fetch")
    # a store not created yet is empty, as for doveadm (tests/cli/test_fidelity.py)
    no_store = run_dmf("-o", f"mail_location=maildir:{dest}/absent", "mailbox", "list")
    assert (no_store.returncode, no_store.stdout) == (0, "INBOX\n")
