"""`dmf fetch FIELDS QUERY`: doveadm's message inspection, same fields and output.

The query is doveadm's search syntax, reduced to what inspecting a migration needs:
`mailbox NAME` (masks allowed), `mailbox-guid GUID`, `uid SET`, `all`, `seen`, `unseen`,
`flagged`, `unflagged`, `deleted`, `undeleted`, ANDed together.
"""

from __future__ import annotations

import io
import sys
import time
from argparse import Namespace
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from dmf.cli import mailbox_masks
from dmf.cli.context import GlobalOptions
from dmf.cli.formatters import Column, make_printer
from dmf.cli.mail_user import MailUser
from dmf.cli.mailbox import add_user_options, user_column
from dmf.cli.message_dates import save_date
from dmf.cli.parsing import Parser
from dmf.cli.run import guarded, report
from dmf.cli.session import display_name, open_user_store, print_per_user, start
from dmf.cli.sizes import virtual_size
from dmf.errors import UsageError
from dmf.mail.model import DELETED, FLAGGED, SEEN, SYSTEM_FLAGS, MailboxMeta, MessageMeta
from dmf.mail.storage import Mailbox

SIMPLE_FIELDS = ("user", "mailbox", "mailbox-guid", "seq", "uid", "guid", "flags", "modseq",
                 "hdr", "body", "text", "size.physical", "size.virtual", "date.received",
                 "date.saved", "date.received.unixtime", "date.saved.unixtime", "pop3.uidl",
                 "pop3.order")
# IMAP's order of system flags in a FLAGS list, as doveadm writes them.
_FLAG_ORDER = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_FLAG_KEYWORDS = {"seen": (SEEN, True), "unseen": (SEEN, False), "flagged": (FLAGGED, True),
                  "unflagged": (FLAGGED, False), "deleted": (DELETED, True),
                  "undeleted": (DELETED, False)}


def parse_fields(text: str) -> tuple[str, ...]:
    names = tuple(name.lower() for name in text.split())
    if not names:
        raise UsageError("fetch: no fields given")
    for name in names:
        if name not in SIMPLE_FIELDS and not (name.startswith("hdr.") and len(name) > 4):
            raise UsageError(f"Unknown fetch field: {name} (available: hdr.<name> "
                             f"{' '.join(SIMPLE_FIELDS)})")
    return names


UID_MAX = 2**32 - 1  # `*` in a set: the highest UID there can be


def parse_uid_set(text: str) -> Callable[[int], bool]:
    """An IMAP sequence set of UIDs (`1:5,7,10:*`)."""

    def bound(value: str) -> int:
        return UID_MAX if value == "*" else int(value)

    ranges: list[tuple[int, int]] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition(":")
            first, last = bound(low), bound(high) if high else bound(low)
            ranges.append((min(first, last), max(first, last)))
    except ValueError:
        raise UsageError(f"fetch: invalid uid set {text!r}") from None
    return lambda uid: any(low <= uid <= high for low, high in ranges)


@dataclass(slots=True)
class Query:
    mailbox_masks: list[str] = field(default_factory=list)
    mailbox_guids: list[str] = field(default_factory=list)
    message_tests: list[Callable[[MessageMeta], bool]] = field(default_factory=list)

    def covers_mailbox(self, display: str, meta: MailboxMeta, separator: str) -> bool:
        if self.mailbox_guids and meta.guid.lower() not in self.mailbox_guids:
            return False
        return mailbox_masks.matches_any(display, self.mailbox_masks, separator)

    def covers_message(self, message: MessageMeta) -> bool:
        return all(test(message) for test in self.message_tests)


def parse_query(words: Sequence[str]) -> Query:
    query = Query()
    position = 0

    def argument(keyword: str) -> str:
        nonlocal position
        if position >= len(words):
            raise UsageError(f"fetch: search key {keyword} needs an argument")
        position += 1
        return words[position - 1]

    if not words:
        raise UsageError("fetch: no search query given (e.g. mailbox INBOX)")
    while position < len(words):
        keyword = words[position].lower()
        position += 1
        if keyword == "mailbox":
            query.mailbox_masks.append(argument(keyword))
        elif keyword == "mailbox-guid":
            query.mailbox_guids.append(argument(keyword).lower())
        elif keyword == "uid":
            matches = parse_uid_set(argument(keyword))
            query.message_tests.append(lambda m, matches=matches: matches(m.uid))
        elif keyword in _FLAG_KEYWORDS:
            flag, wanted = _FLAG_KEYWORDS[keyword]
            query.message_tests.append(lambda m, f=flag, w=wanted: (f in m.flags) == w)
        elif keyword != "all":
            raise UsageError(f"fetch: unknown search key {words[position - 1]!r}")
    return query


def imap_flags(message: MessageMeta, keyword_order: Sequence[str] = ()) -> str:
    """Flags as doveadm prints them: system flags in IMAP order, then keywords in the
    mailbox's keyword order (any the order does not know, alphabetically, after them)."""
    names = [flag for flag in _FLAG_ORDER if flag in message.flags]
    names += [flag for flag in sorted(message.flags - SYSTEM_FLAGS - set(_FLAG_ORDER))]
    names += [keyword for keyword in keyword_order if keyword in message.keywords]
    names += sorted(message.keywords.difference(keyword_order))
    return " ".join(names)


def keyword_order(mailbox: Mailbox) -> tuple[str, ...]:
    """A store that knows its keywords' order (Maildir) tells it; others print them sorted."""
    ordered = getattr(mailbox, "keyword_order", None)
    return ordered() if ordered is not None else ()


def local_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def read_header_block(mailbox: Mailbox, uid: int) -> bytes:
    """The message's header, up to and including the blank line that ends it."""
    lines: list[bytes] = []
    with io.BufferedReader(mailbox.open_body(uid)) as body:
        for line in body:
            lines.append(line)
            if line in (b"\n", b"\r\n"):
                break
    return b"".join(lines)


def header_values(header: bytes, name: str) -> list[str]:
    """Every value of header `name` as doveadm prints it: leading blanks after the colon
    dropped, folded lines kept as LF plus the continuation line, CRs removed."""
    wanted = name.lower().encode("ascii", "replace")
    values: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in header.splitlines():
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        current = None
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == wanted:
            current = [value.lstrip(b" \t")]
            values.append(current)
    return [b"\n".join(lines).decode("utf-8", "replace") for lines in values]


class FetchSubject(NamedTuple):
    user: str
    mailbox: Mailbox
    display: str
    seq: int
    message: MessageMeta
    keywords: Sequence[str] = ()  # the mailbox's keyword order


def field_value(name: str, item: FetchSubject) -> str:
    message = item.message
    if name == "user":
        return item.user
    if name == "mailbox":
        return item.display
    if name == "mailbox-guid":
        return item.mailbox.meta.guid
    if name == "seq":
        return str(item.seq)
    if name == "uid":
        return str(message.uid)
    if name == "guid":
        return message.guid
    if name == "flags":
        return imap_flags(message, item.keywords)
    if name == "modseq":
        return str(message.modseq)
    if name == "size.physical":
        return str(message.size)
    if name == "size.virtual":
        return str(virtual_size(item.mailbox, message))
    if name in ("date.received", "date.received.unixtime"):
        stamp = message.internal_date
        return local_time(stamp) if name == "date.received" else str(stamp)
    if name in ("date.saved", "date.saved.unixtime"):
        stamp = save_date(item.mailbox, item.message)
        return local_time(stamp) if name == "date.saved" else str(stamp)
    if name == "pop3.uidl":
        return message.pop3_uidl or ""
    if name == "pop3.order":
        return "" if message.pop3_order is None else str(message.pop3_order)
    if name in ("hdr", "body", "text"):
        return _message_part(item, name)
    return "\n".join(header_values(read_header_block(item.mailbox, message.uid), name[4:]))


def _message_part(item: FetchSubject, name: str) -> str:
    with item.mailbox.open_body(item.message.uid) as body:
        content = body.read()
    end = content.find(b"\r\n\r\n")
    end = end + 4 if end >= 0 else content.find(b"\n\n") + 2
    if end < 2:
        end = len(content)
    part = {"hdr": content[:end], "body": content[end:], "text": content}[name]
    return part.replace(b"\r\n", b"\n").decode("utf-8", "replace")


def configure(parser: Parser) -> None:
    parser.description = fetch.__doc__
    add_user_options(parser)
    parser.add_argument("fields", metavar="FIELDS")
    parser.add_argument("query", nargs="+", metavar="QUERY")
    parser.set_defaults(run=fetch)


@guarded
def fetch(options: GlobalOptions, args: Namespace) -> int:
    """Print FIELDS ("uid guid flags date.received size.physical hdr.message-id ...") of the
    messages matching QUERY (e.g. mailbox INBOX)."""
    all_users, users_file = args.all_users, args.users_file
    session = start(options)
    names = parse_fields(args.fields)
    search = parse_query(args.query)
    with_user = bool(all_users or users_file)
    columns = user_column(all_users, users_file) + [Column(n) for n in names]
    printer = make_printer(session.options.formatter or "pager", columns, sys.stdout)

    def run(mail_user: MailUser) -> int:
        storage = open_user_store(mail_user, create_missing=False)
        if storage is None:
            return 0  # a store not created yet holds no messages
        prefix = [mail_user.name] if with_user else []
        exit_code = 0
        try:
            for meta in storage.list_mailboxes():
                display = display_name(meta.name, storage)
                if not search.covers_mailbox(display, meta, storage.separator):
                    continue
                try:
                    box = storage.mailbox(meta.name)
                    try:
                        order = keyword_order(box)
                        for seq, message in enumerate(box.messages(), start=1):
                            if search.covers_message(message):
                                item = FetchSubject(mail_user.name, box, display, seq, message,
                                                    order)
                                printer.row(prefix + [field_value(n, item) for n in names])
                    finally:
                        box.close()
                except Exception as exc:  # noqa: BLE001 - report per mailbox, go on
                    exit_code = report(exc, debug=session.options.debug)
        finally:
            storage.close()
        return exit_code

    return print_per_user(session, printer, user=args.user, all_users=all_users,
                          users_file=users_file, run=run)
