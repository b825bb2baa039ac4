"""The formatters print exactly what doveadm prints: each format is fed doveadm's own values
(read with -f tab) and compared byte for byte with doveadm's output in that format."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from dmf.cli.formatters import Column, json_escape, make_printer, table_widths
from tests.cli.sample_mail import write_maildir
from tests.fixtures.dovecot import Doveadm
from tests.fixtures.services import unavailable

STATUS_FIELDS = "messages vsize uidnext uidvalidity highestmodseq guid unseen recent"


def render(kind: str, columns: list[Column], rows: list[list[str]]) -> str:
    out = io.StringIO()
    printer = make_printer(kind, columns, out)
    for row in rows:
        printer.row(row)
    printer.flush()
    return out.getvalue()


def parse_tab(text: str) -> tuple[list[str], list[list[str]]]:
    header, *lines = text.split("\n")[:-1]
    return header.split("\t"), [line.split("\t") for line in lines]


@pytest.fixture(scope="module")
def oracle(doveadm: Doveadm) -> tuple[Doveadm, Path]:
    maildir = write_maildir(doveadm.new_dir() / "Maildir")
    doveadm.chown(maildir)
    doveadm.run(maildir, "mailbox", "status", STATUS_FIELDS, "*")  # settle the index first
    return doveadm, maildir


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["tab", "flow", "json", "table", "pager"])
@pytest.mark.parametrize("command, hidden", [
    (("mailbox", "status", STATUS_FIELDS, "*"), {"mailbox"}),
    (("mailbox", "list"), {"mailbox"}),
    (("fetch", "uid flags size.physical date.received guid", "mailbox", "*"), set()),
], ids=["status", "list", "fetch"])
def test_output_matches_doveadm(oracle, kind: str, command: tuple[str, ...],
                                hidden: set[str]) -> None:
    doveadm, maildir = oracle
    titles, rows = parse_tab(doveadm.run(maildir, "-f", "tab", *command))
    assert rows, "the oracle printed no rows: the comparison would prove nothing"
    columns = [Column(title, hide_title=title in hidden) for title in titles]
    expected = doveadm.run(maildir, "-f", kind, *command)
    assert render(kind, columns, rows) == expected


def test_empty_outputs_keep_doveadm_shape() -> None:
    columns = [Column("mailbox", hide_title=True), Column("messages")]
    assert render("tab", columns, []) == "mailbox\tmessages\n"
    assert render("json", columns, []) == "[]"
    assert render("flow", columns, []) == ""
    assert render("table", columns, []) == "mailbox messages" + " " * 32 + "\n"


def test_table_shrinks_right_columns_to_the_width() -> None:
    widths = table_widths(["mailbox", "guid"], [["INBOX", "x" * 100]], 80)
    assert widths == [7, 72]  # sum + separator == 80: the long value overflows, not wraps


@pytest.fixture(scope="module")
def unflagged(doveadm: Doveadm) -> tuple[Doveadm, Path]:
    """The sample after an IMAP SELECT of every mailbox (Dovecot's own imap, preauthenticated
    on stdin): \\Recent is dropped, so messages stored without flags have none at all."""
    imap = Path(doveadm.binary).resolve().parent.parent / "lib" / "dovecot" / "imap"
    if not os.access(imap, os.X_OK):
        unavailable("dovecot imap", f"{imap} missing (Debian package dovecot-imapd)")
    maildir = write_maildir(doveadm.new_dir() / "Maildir")
    doveadm.chown(maildir)
    # the imap binary takes doveadm's -c/-o options; argv[0] is doveadm itself
    argv = [str(imap), *doveadm.argv(maildir)[1:]]
    subprocess.run(argv, input=b"a SELECT INBOX\r\nb SELECT Archive.2024\r\nc LOGOUT\r\n",
                   env=doveadm.env, capture_output=True, timeout=60, check=True)
    return doveadm, maildir


@pytest.mark.interop
def test_table_prints_an_empty_value_blank_as_doveadm(unflagged) -> None:
    doveadm, maildir = unflagged
    command = ("fetch", "uid flags", "all")
    titles, rows = parse_tab(doveadm.run(maildir, "-f", "tab", *command))
    assert any(row[1] == "" for row in rows), "no message without flags to compare"
    expected = doveadm.run_bytes(maildir, "-f", "table", *command)
    assert render("table", [Column(title) for title in titles], rows).encode() == expected


def test_json_escapes_as_doveadm() -> None:
    assert json_escape('a"b\\c\n\t\x01\u2028é') == 'a\\"b\\\\c\\n\\t\\u0001\\u2028é'
