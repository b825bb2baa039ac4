"""`dmf mailbox status|list|path`: doveadm's mailbox inspection commands, same output."""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from dmf.cli import mailbox_masks
from dmf.cli.context import GlobalOptions
from dmf.cli.formatters import Column, make_printer
from dmf.cli.mail_user import MailUser
from dmf.cli.message_dates import save_date
from dmf.cli.parsing import Parser, add_command
from dmf.cli.run import guarded, report
from dmf.cli.session import (
    Session,
    display_name,
    internal_name,
    open_user_store,
    print_per_user,
    require_location,
    start,
)
from dmf.cli.sizes import virtual_size
from dmf.errors import NotFoundError, NotPossibleError, UsageError
from dmf.mail.model import SEEN, MailboxMeta
from dmf.mail.storage import Mailbox, Storage

# doveadm prints status fields in this order, whatever order they were asked in.
STATUS_FIELDS = ("messages", "recent", "uidnext", "uidvalidity", "unseen", "highestmodseq",
                 "vsize", "guid", "firstsaved")
TOTAL_FIELDS = frozenset({"messages", "recent", "unseen", "vsize"})  # what -t can sum
PATH_TYPES = ("index", "control", "dir")  # Dovecot 2.3 has no `-t alt`
_MESSAGE_FIELDS = frozenset({"messages", "unseen", "vsize"})  # need a pass over the messages


def parse_status_fields(text: str, *, total: bool) -> tuple[str, ...]:
    """The requested fields in doveadm's output order; `all` expands as doveadm's does."""
    wanted: set[str] = set()
    names = text.split()
    if not names:
        raise UsageError("No status fields")
    for name in names:
        if name == "all":
            wanted |= TOTAL_FIELDS if total else set(STATUS_FIELDS)
        elif name in STATUS_FIELDS:
            wanted.add(name)
        else:
            raise UsageError(f"Unknown status field: {name}")
        if total and not wanted <= TOTAL_FIELDS:
            raise UsageError(f"Status field {name} can't be used with -t")
    return tuple(field for field in STATUS_FIELDS if field in wanted)


class MailboxStatus(NamedTuple):
    meta: MailboxMeta
    messages: int = 0
    recent: int = 0
    unseen: int = 0
    vsize: int = 0
    first_saved: int | None = None  # the save date of the lowest UID; None when empty

    def value(self, field: str) -> str:
        if field == "guid":
            return self.meta.guid
        if field == "firstsaved":
            return "never" if self.first_saved is None else str(self.first_saved)
        if field in ("uidnext", "uidvalidity"):
            return str(getattr(self.meta, field))
        if field == "highestmodseq":
            return str(self.meta.highestmodseq)
        return str(getattr(self, field))


def mailbox_status(mailbox: Mailbox, fields: Sequence[str]) -> MailboxStatus:
    """Count only what was asked: a pass over the messages costs a stat per message.
    `firstsaved` is the save date of the first message (lowest UID, not the oldest), as
    Dovecot reports it; Dovecot caches it in its index, dmf reads it each time."""
    messages = unseen = vsize = 0
    first_saved = None
    if _MESSAGE_FIELDS.intersection(fields) or "firstsaved" in fields:
        for message in mailbox.messages():
            if messages == 0 and "firstsaved" in fields:
                first_saved = save_date(mailbox, message)
                if not _MESSAGE_FIELDS.intersection(fields):
                    break
            messages += 1
            unseen += SEEN not in message.flags
            if "vsize" in fields:
                vsize += virtual_size(mailbox, message)
    recent = mailbox.recent_count() if "recent" in fields else 0
    return MailboxStatus(meta=mailbox.meta, messages=messages, recent=recent, unseen=unseen,
                         vsize=vsize, first_saved=first_saved)


def selected_mailboxes(storage: Storage | None,
                       masks: Sequence[str]) -> Iterator[tuple[str, MailboxMeta | None]]:
    """(display name, meta) for each covered mailbox. As doveadm: one exact mask names its
    mailbox directly (meta None when it does not exist: the caller reports it); several masks,
    or a glob, filter the listing (names that match nothing are skipped). A store that does
    not exist yet lists nothing."""
    separator = storage.separator if storage is not None else "."
    listed = ({display_name(meta.name, storage): meta for meta in storage.list_mailboxes()}
              if storage is not None else {})
    if len(masks) == 1 and not mailbox_masks.is_glob(masks[0]):
        found = [name for name in listed if mailbox_masks.matches_any(name, masks, separator)]
        yield (found[0], listed[found[0]]) if found else (masks[0], None)
        return
    for name in mailbox_masks.select(listed, masks, separator):
        yield name, listed[name]


def _printer_kind(session: Session, default: str) -> str:
    return session.options.formatter or default


def user_column(all_users: bool, users_file: str | None) -> list[Column]:
    """doveadm prefixes every row with the user (title hidden, but `Username` in tab and
    table headers) when it runs for -A or -F."""
    if not (all_users or users_file):
        return []
    return [Column("username", hide_title=True, title="Username")]


def _wants_one_inbox(masks: Sequence[str]) -> bool:
    return len(masks) == 1 and masks[0].upper() == "INBOX"


def filesystem_path(location: str, user: str, home: str | None, name: str,
                    path_type: str) -> str | None:
    """Where Dovecot keeps mailbox `name` (as the user writes it, with the store's
    separator), from the location alone: the store need not exist. None for the index of
    INDEX=MEMORY."""
    if location.partition(":")[0].lower() != "maildir":
        raise NotPossibleError(f"Mailbox {name}: mailbox path is supported for maildir only")
    from dmf.mail.location import parse_maildir

    layout = parse_maildir(location, user=user, home=home)
    canonical = layout.canonical(name.replace(layout.separator, "/"))
    if path_type == "index":
        return layout.index_dir(canonical)
    if path_type == "control":
        return layout.control_dir(canonical)
    return layout.mail_dir(canonical)


def add_user_options(parser: Parser) -> None:
    """doveadm's -u / -A / -F, shared by every inspection command."""
    parser.add_argument("-u", dest="user", metavar="USER", help="The user (default: $USER).")
    parser.add_argument("-A", dest="all_users", action="store_true",
                        help="Every user of the userdb.")
    parser.add_argument("-F", dest="users_file", metavar="FILE",
                        help="The users listed in FILE, one a line.")


def configure(parser: Parser) -> None:
    parser.description = "Inspect a user's mailboxes (doveadm mailbox ...)."
    commands = parser.add_commands()
    command = add_command(commands, "status", status)
    add_user_options(command)
    command.add_argument("-t", dest="total", action="store_true",
                         help="Sum the fields over all matching mailboxes.")
    command.add_argument("fields", metavar="FIELDS")
    command.add_argument("masks", nargs="+", metavar="MASK")
    command = add_command(commands, "list", list_)
    add_user_options(command)
    command.add_argument("-s", dest="subscribed", action="store_true",
                         help="Only subscribed mailboxes.")
    command.add_argument("-7", dest="mutf7", action="store_true",
                         help="Names in modified UTF-7.")
    command.add_argument("-8", dest="utf8", action="store_true",
                         help="Names in UTF-8 (the default).")
    command.add_argument("masks", nargs="*", metavar="MASK")
    command = add_command(commands, "path", path)
    add_user_options(command)
    command.add_argument("-t", dest="path_type", choices=PATH_TYPES, default="index",
                         help="Which path: index, control or dir (default: index).")
    command.add_argument("name", metavar="NAME")


@guarded
def status(options: GlobalOptions, args: Namespace) -> int:
    """Print FIELDS ("messages vsize uidnext uidvalidity highestmodseq guid unseen recent
    firstsaved" or "all") of the mailboxes matching MASK..."""
    all_users, users_file, total, masks = args.all_users, args.users_file, args.total, args.masks
    session = start(options)
    fields: str = args.fields
    wanted = parse_status_fields(fields, total=total)
    columns = (user_column(all_users, users_file)
               + ([] if total else [Column("mailbox", hide_title=True)])
               + [Column(f) for f in wanted])
    printer = make_printer(_printer_kind(session, "flow"), columns, sys.stdout)
    user_prefix = bool(all_users or users_file)

    def run(mail_user: MailUser) -> int:
        # Dovecot opens a single exact INBOX directly, creating a missing store on the way
        storage = open_user_store(mail_user, create_missing=_wants_one_inbox(masks))
        prefix = [mail_user.name] if user_prefix else []
        exit_code = 0
        sums = dict.fromkeys(wanted, 0)
        try:
            for name, meta in selected_mailboxes(storage, masks):
                try:
                    if meta is None or storage is None:
                        raise NotFoundError(f"Mailbox {name}: Failed to lookup mailbox "
                                            f"status: Mailbox doesn't exist: {name}")
                    box = storage.mailbox(internal_name(name, storage))
                    try:
                        result = mailbox_status(box, wanted)
                    finally:
                        box.close()
                except Exception as exc:  # noqa: BLE001 - one mailbox failing must not stop the rest
                    exit_code = report(exc, debug=session.options.debug)
                    continue
                if total:
                    for field in wanted:
                        sums[field] += int(result.value(field))
                else:
                    printer.row(prefix + [name] + [result.value(field) for field in wanted])
            if total:
                printer.row(prefix + [str(sums[field]) for field in wanted])
        finally:
            if storage is not None:
                storage.close()
        return exit_code

    return print_per_user(session, printer, user=args.user, all_users=all_users,
                          users_file=users_file, run=run)


@guarded
def list_(options: GlobalOptions, args: Namespace) -> int:
    """List the mailboxes matching MASK... (all when none is given). One exact MASK is
    printed as given, whether or not it exists, as doveadm does."""
    all_users, users_file, masks = args.all_users, args.users_file, args.masks
    subscribed, mutf7, utf8 = args.subscribed, args.mutf7, args.utf8
    session = start(options)
    columns = user_column(all_users, users_file) + [Column("mailbox", hide_title=True)]
    printer = make_printer(_printer_kind(session, "flow"), columns, sys.stdout)
    user_prefix = bool(all_users or users_file)

    def run(mail_user: MailUser) -> int:
        storage = open_user_store(mail_user, create_missing=False)
        prefix = [mail_user.name] if user_prefix else []
        try:
            for name in listed_names(storage, masks, subscribed=subscribed):
                printer.row(prefix + [_encode_mutf7(name) if mutf7 and not utf8 else name])
        finally:
            if storage is not None:
                storage.close()
        return 0

    return print_per_user(session, printer, user=args.user, all_users=all_users,
                          users_file=users_file, run=run)


def listed_names(storage: Storage | None, masks: Sequence[str], *,
                 subscribed: bool) -> list[str]:
    """What `mailbox list` prints. A store that does not exist yet lists only INBOX, as
    doveadm does (though `mailbox status` of `*` finds nothing there)."""
    if len(masks) == 1 and not mailbox_masks.is_glob(masks[0]):
        return [masks[0]]
    if storage is None:
        return [] if subscribed else mailbox_masks.select(["INBOX"], masks, ".")
    if subscribed:
        names = [display_name(name, storage) for name in sorted(storage.subscriptions())]
    else:
        names = [display_name(meta.name, storage) for meta in storage.list_mailboxes()]
    return mailbox_masks.select(names, masks, storage.separator)


def _encode_mutf7(name: str) -> str:
    from dmf.mail.mutf7 import encode

    return encode(name)


@guarded
def path(options: GlobalOptions, args: Namespace) -> int:
    """Print the filesystem path of mailbox NAME (doveadm mailbox path)."""
    all_users, users_file, path_type, name = (args.all_users, args.users_file, args.path_type,
                                              args.name)
    session = start(options)
    columns = user_column(all_users, users_file) + [Column("path", hide_title=True)]
    printer = make_printer(_printer_kind(session, "flow"), columns, sys.stdout)
    user_prefix = bool(all_users or users_file)

    def run(mail_user: MailUser) -> int:
        location = require_location(mail_user.location)
        found = filesystem_path(location, mail_user.name, mail_user.home, name, path_type)
        prefix = [mail_user.name] if user_prefix else []
        if found is not None:  # INDEX=MEMORY: doveadm prints nothing
            printer.row(prefix + [str(found)])
        return 0

    return print_per_user(session, printer, user=args.user, all_users=all_users,
                          users_file=users_file, run=run)
