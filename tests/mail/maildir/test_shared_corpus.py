"""Optional: the project's benchmark corpus (with its hostile folder) through dmf and doveadm.
Runs only where ../shared/bench/make_corpus.py exists; `make test` does not need it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dmf.mail.location import open_storage
from tests.fixtures.dovecot import Doveadm
from tests.mail.copying import copy_all
from tests.mail.maildir.test_doveadm_interop import dmf_view, on_disk_name

pytestmark = pytest.mark.interop
MAKE_CORPUS = Path(__file__).resolve().parents[4] / "shared" / "bench" / "make_corpus.py"


@pytest.mark.slow
@pytest.mark.skipif(not MAKE_CORPUS.exists(), reason="../shared/bench/make_corpus.py absent")
def test_hostile_corpus_copies_and_reads_the_same_in_doveadm(tmp_path: Path,
                                                             doveadm: Doveadm) -> None:
    subprocess.run([sys.executable, str(MAKE_CORPUS), "maildir", str(tmp_path / "src"),
                    "--messages", "2000", "--uidlist", "--hostile"], check=True,
                   capture_output=True)
    source = open_storage(f"maildir:{tmp_path}/src", user="u", home=None)
    destination = open_storage(f"maildir:{tmp_path}/dest", user="u", home=None, create=True)
    copy_all(source, destination)
    copied = open_storage(f"maildir:{tmp_path}/dest", user="u", home=None)
    names = [meta.name for meta in source.list_mailboxes()]
    assert "~R&D" in names  # Dovecot refuses this name; dmf keeps the folder as it is
    for name in names:
        assert dmf_view(copied, name) == dmf_view(source, name)
        box, copy = source.mailbox(name), copied.mailbox(name)
        for message in box.messages():
            with box.open_body(message.uid) as original, copy.open_body(message.uid) as stored:
                assert original.read() == stored.read()
    tree = doveadm.copy(tmp_path / "dest")
    for name in names:
        if name.startswith("~"):
            continue
        assert doveadm.fetch(f"maildir:{tree}", on_disk_name(copied, name)) == \
            dmf_view(source, name), name
