"""`dmf mailbox status|list|path`: doveadm's mailbox inspection commands, same output."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from dmf.cli import mailbox_masks
from dmf.cli.formatters import Column, make_printer
from dmf.cli.run import guarded, report
from dmf.cli.session import (
    Session,
    command_user,
    display_name,
    internal_name,
    open_store,
    start,
)
from dmf.cli.sizes import virtual_size
from dmf.errors import NotFoundError, NotPossibleError, UsageError
from dmf.mail.model import SEEN, MailboxMeta
from dmf.mail.storage import Mailbox, Storage

# doveadm prints status fields in this order, whatever order they were asked in.
STATUS_FIELDS = ("messages", "recent", "uidnext", "uidvalidity", "unseen", "highestmodseq",
                 "vsize", "guid")
TOTAL_FIELDS = frozenset({"messages", "recent", "unseen", "vsize"})  # what -t can sum
PATH_TYPES = ("index", "control", "dir", "alt")
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


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    meta: MailboxMeta
    messages: int = 0
    recent: int = 0
    unseen: int = 0
    vsize: int = 0

    def value(self, field: str) -> str:
        if field == "guid":
            return self.meta.guid
        if field in ("uidnext", "uidvalidity"):
            return str(getattr(self.meta, field))
        if field == "highestmodseq":
            return str(self.meta.highestmodseq)
        return str(getattr(self, field))


def mailbox_status(mailbox: Mailbox, fields: Sequence[str]) -> MailboxStatus:
    """Count only what was asked: a pass over the messages costs a stat per message."""
    messages = unseen = vsize = 0
    if _MESSAGE_FIELDS.intersection(fields):
        for message in mailbox.messages():
            messages += 1
            unseen += SEEN not in message.flags
            if "vsize" in fields:
                vsize += virtual_size(mailbox, message)
    recent = mailbox.recent_count() if "recent" in fields else 0
    return MailboxStatus(meta=mailbox.meta, messages=messages, recent=recent, unseen=unseen,
                         vsize=vsize)


def _open_user_store(session: Session, user: str | None) -> Storage:
    mail_user = command_user(session, user)
    return open_store(mail_user.location, user=mail_user.name, home=mail_user.home)


def selected_mailboxes(storage: Storage,
                       masks: Sequence[str]) -> Iterator[tuple[str, MailboxMeta | None]]:
    """(display name, meta) for each covered mailbox; meta None for an exact mask that names
    no mailbox (reported by the caller as doveadm does, after the others)."""
    listed = {display_name(meta.name, storage): meta for meta in storage.list_mailboxes()}
    for name in mailbox_masks.select(listed, masks, storage.separator):
        yield name, listed[name]
    for mask in masks:
        if not mailbox_masks.is_glob(mask) and not any(
                mailbox_masks.matches_any(name, [mask], storage.separator) for name in listed):
            yield mask, None


def _printer_kind(session: Session, default: str) -> str:
    return session.options.formatter or default


def filesystem_path(storage: Storage, name: str, path_type: str) -> Path | None:
    """Where a file-based store keeps the mailbox (its `layout`); None for `alt`, as dmf
    writes no alternate storage. Index files live with the mail, as dmf writes none."""
    layout = getattr(storage, "layout", None)
    if layout is None:
        raise NotPossibleError(f"Mailbox {name}: this store has no filesystem paths")
    canonical = layout.canonical(name)
    if path_type == "alt":
        return None
    if path_type == "control":
        return layout.control_dir(canonical)
    return layout.mail_dir(canonical)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def mailbox() -> None:
    """Inspect a user's mailboxes (doveadm mailbox ...)."""


@mailbox.command("status")
@click.option("-u", "user", metavar="USER", help="The user (default: $USER).")
@click.option("-t", "total", is_flag=True, help="Sum the fields over all matching mailboxes.")
@click.argument("fields")
@click.argument("masks", nargs=-1, required=True)
@click.pass_context
@guarded
def status(ctx: click.Context, user: str | None, total: bool, fields: str,
           masks: tuple[str, ...]) -> None:
    """Print FIELDS ("messages vsize uidnext uidvalidity highestmodseq guid unseen recent" or
    "all") of the mailboxes matching MASK..."""
    session = start(ctx)
    wanted = parse_status_fields(fields, total=total)
    storage = _open_user_store(session, user)
    columns = ([] if total else [Column("mailbox", hide_title=True)]) + [Column(f)
                                                                          for f in wanted]
    printer = make_printer(_printer_kind(session, "flow"), columns, sys.stdout)
    exit_code = 0
    sums = dict.fromkeys(wanted, 0)
    try:
        for name, meta in selected_mailboxes(storage, masks):
            try:
                if meta is None:
                    raise NotFoundError(f"Mailbox {name}: Failed to lookup mailbox status: "
                                        f"Mailbox doesn't exist: {name}")
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
                printer.row([name] + [result.value(field) for field in wanted])
        if total:
            printer.row([str(sums[field]) for field in wanted])
        printer.flush()
    finally:
        storage.close()
    if exit_code:
        ctx.exit(exit_code)


@mailbox.command("list")
@click.option("-u", "user", metavar="USER", help="The user (default: $USER).")
@click.option("-s", "subscribed", is_flag=True, help="Only subscribed mailboxes.")
@click.option("-7", "mutf7", is_flag=True, help="Names in modified UTF-7.")
@click.option("-8", "utf8", is_flag=True, help="Names in UTF-8 (the default).")
@click.argument("masks", nargs=-1)
@click.pass_context
@guarded
def list_(ctx: click.Context, user: str | None, subscribed: bool, mutf7: bool, utf8: bool,
          masks: tuple[str, ...]) -> None:
    """List the mailboxes matching MASK... (all when none is given)."""
    session = start(ctx)
    storage = _open_user_store(session, user)
    try:
        if subscribed:
            names = [display_name(name, storage) for name in sorted(storage.subscriptions())]
        else:
            names = [display_name(meta.name, storage) for meta in storage.list_mailboxes()]
        printer = make_printer(_printer_kind(session, "flow"),
                               [Column("mailbox", hide_title=True)], sys.stdout)
        for name in mailbox_masks.select(names, masks, storage.separator):
            printer.row([_encode_mutf7(name) if mutf7 and not utf8 else name])
        printer.flush()
    finally:
        storage.close()


def _encode_mutf7(name: str) -> str:
    from dmf.mail.mutf7 import encode

    return encode(name)


@mailbox.command("path")
@click.option("-u", "user", metavar="USER", help="The user (default: $USER).")
@click.option("-t", "path_type", type=click.Choice(PATH_TYPES), default="index",
              show_default=True, help="Which path: index, control, dir or alt.")
@click.argument("name")
@click.pass_context
@guarded
def path(ctx: click.Context, user: str | None, path_type: str, name: str) -> None:
    """Print the filesystem path of mailbox NAME (doveadm mailbox path)."""
    session = start(ctx)
    storage = _open_user_store(session, user)
    try:
        found = filesystem_path(storage, internal_name(name, storage), path_type)
        printer = make_printer(_printer_kind(session, "flow"),
                               [Column("path", hide_title=True)], sys.stdout)
        if found is not None:
            printer.row([str(found)])
        printer.flush()
    finally:
        storage.close()
