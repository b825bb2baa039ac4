"""Dovecot location strings: parsing, expansion, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmf.errors import ConfigError, NotFoundError, NotPossibleError
from dmf.mail.location import expand, open_storage, parse_maildir


def test_expansion_of_home_and_variables() -> None:
    assert expand("~/Maildir", user="a@b.c", home="/h") == "/h/Maildir"
    assert expand("/m/%d/%n/%u/%%", user="Ann@b.c", home=None) == "/m/b.c/Ann/Ann@b.c/%"
    assert expand("/m/%Ln/%{domain}/%h", user="Ann@b.c", home="/h") == "/m/ann/b.c//h"


@pytest.mark.parametrize(("text", "why"), [
    ("~/Maildir", "has none"), ("/m/%x", "unknown variable"), ("/m/%{nope}", "unknown variable"),
])
def test_bad_expansions(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        expand(text, user="u", home=None)


def test_parameters() -> None:
    layout = parse_maildir("maildir:~/Maildir:LAYOUT=fs:INBOX=/var/in/%u:CONTROL=~/ctl"
                           ":INDEX=/idx/%u", user="u", home="/h")
    assert layout.root == "/h/Maildir"
    assert layout.fs_layout and layout.separator == "/"
    assert layout.inbox == "/var/in/u"
    assert layout.control == "/h/ctl"
    assert layout.mail_dir("INBOX") == "/var/in/u"
    assert layout.control_dir("A/B") == "/h/ctl/A/B"
    assert parse_maildir("maildir:/x::y", user="u", home=None).root == "/x:y"


@pytest.mark.parametrize(("location", "error", "why"), [
    ("/no/scheme", ConfigError, "expected <format>:<path>"),
    ("maildir:", ConfigError, "path is empty"),
    ("maildir:relative/path", ConfigError, "not absolute"),
    ("maildir:/m:BOGUS=1", ConfigError, "unknown setting"),
    ("maildir:/m:INBOX", ConfigError, "not KEY=VALUE"),
    ("maildir:/m:LAYOUT=index", NotPossibleError, "LAYOUT=index"),
    ("maildir:/m:DIRNAME=x", NotPossibleError, "not supported"),
    ("maildir:/m:INBOX=rel", ConfigError, "not an absolute path"),
    ("mbox:~/mail", NotPossibleError, "not supported yet"),
    ("imapc:", NotPossibleError, "not supported yet"),
    ("floppy:/x", ConfigError, "unknown mail format"),
])
def test_bad_locations(location: str, error: type[Exception], why: str) -> None:
    with pytest.raises(error, match=why):
        open_storage(location, user="u", home="/h")


def test_missing_source_is_not_found_and_create_makes_it(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        open_storage(f"maildir:{tmp_path}/none", user="u", home=None)
    assert not (tmp_path / "none").exists()
    storage = open_storage(f"maildir:{tmp_path}/new/Maildir", user="u", home=None, create=True)
    assert all((tmp_path / "new/Maildir" / sub).is_dir() for sub in ("cur", "new", "tmp"))
    assert [meta.name for meta in storage.list_mailboxes()] == ["INBOX"]


def test_inbox_and_control_parameters_place_files(tmp_path: Path) -> None:
    location = (f"maildir:{tmp_path}/Maildir:INBOX={tmp_path}/Maildir/.INBOX"
                f":CONTROL={tmp_path}/control:INDEX={tmp_path}/index")
    storage = open_storage(location, user="u", home=None, create=True)
    storage.create_mailbox("INBOX", guid="0" * 32)
    storage.create_mailbox("Sub/Child")
    storage.set_subscriptions({"Sub/Child"})
    assert (tmp_path / "Maildir/.INBOX/cur").is_dir()
    assert (tmp_path / "control/.INBOX/dovecot-uidlist").read_text().startswith("3 V")
    assert (tmp_path / "control/.Sub.Child/dovecot-uidlist").exists()
    assert (tmp_path / "control/subscriptions").exists()
    assert not (tmp_path / "index").exists()
    reread = open_storage(location, user="u", home=None)
    assert sorted(meta.name for meta in reread.list_mailboxes()) == ["INBOX", "Sub/Child"]
    assert reread.mailbox("INBOX").meta.guid == "0" * 32
