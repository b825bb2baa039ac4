"""Mailbox names and where they live."""

from __future__ import annotations

import pytest

from dmf.errors import NotPossibleError
from dmf.mail.maildir.layout import MaildirLayout

PLUS = MaildirLayout("/m")
FS = MaildirLayout("/m", fs_layout=True)


def test_maildir_plus_plus_paths() -> None:
    assert PLUS.mail_dir("INBOX") == "/m"
    assert PLUS.mail_dir("Archive/2024") == "/m/.Archive.2024"
    assert PLUS.mail_dir("Entwürfe/R&D") == "/m/.Entw&APw-rfe.R&-D"
    assert PLUS.mail_dir("~Tilde") == "/m/.~Tilde"
    assert PLUS.canonical("inbox/Sub") == "INBOX/Sub"
    assert PLUS.separator == "."


def test_fs_paths() -> None:
    assert FS.mail_dir("Archive/2024") == "/m/Archive/2024"
    assert FS.mail_dir("INBOX") == "/m"
    assert FS.canonical("a.b") == "a.b"


@pytest.mark.parametrize("name", ["/abs", "a//b", "trail/", "", "..", "a/../b", "a/./b",
                                  "ctl\x01", "new\nline", "del\x7f"])
def test_bad_names_are_refused_naming_the_mailbox(name: str) -> None:
    for layout in (PLUS, FS):
        with pytest.raises(NotPossibleError) as caught:
            layout.canonical(name)
        assert repr(name) in str(caught.value)


def test_layout_specific_refusals() -> None:
    with pytest.raises(NotPossibleError, match="Maildir\\+\\+ hierarchy separator"):
        PLUS.canonical("a.b")
    with pytest.raises(NotPossibleError, match="clashes"):
        FS.canonical("x/cur")
