"""`dmf backup` in doveadm's grammar: parse argv into SyncOptions, run the engine per user.

This module is on the hot path of a no-change re-run (the whole run must stay under 0.4 s on
20,000 messages), so it imports only click, the engine and the store; rich only for a bar.
"""

from __future__ import annotations

import os
import re
import sys
from typing import NamedTuple

import click

from dmf.cli.mail_user import (
    MailUser,
    replica_location,
    require_local,
)
from dmf.cli.progress import CliReporter, configure_debug_logging
from dmf.cli.run import guarded
from dmf.cli.session import (
    Session,
    internal_name,
    new_mail_owner,
    open_store,
    run_per_user,
    start,
)
from dmf.dsync.brain import sync_user
from dmf.dsync.dates import parse_date
from dmf.dsync.options import SyncMode, SyncOptions
from dmf.errors import EXIT_OK, ConfigError, UsageError
from dmf.mail.settings import MailSettings
from dmf.mail.storage import Storage

_GUID = re.compile(r"[0-9a-fA-F]{32}")
MAX_SYNC_PROCESSES = 4


class BackupRequest(NamedTuple):
    """The command line of one `dmf backup`, before any user is looked up."""

    reverse: bool
    use_replica: bool  # -d
    destination: str | None
    options: SyncOptions  # mailbox names still as typed (store separator)


def build_request(*, full: bool, reverse: bool, lock_secs: int | None, mailbox: str | None,
                  mailbox_guid: str | None, namespaces: tuple[str, ...], all_namespaces: bool,
                  excludes: tuple[str, ...], start_date: str | None, end_date: str | None,
                  io_timeout: int, state: str | None, use_replica: bool,
                  destination: str | None) -> BackupRequest:
    """Validate the flags as doveadm does, before anything is opened."""
    if use_replica == (destination is not None):
        raise UsageError("backup: give either -d or a destination, not both or neither")
    if mailbox_guid is not None and not _GUID.fullmatch(mailbox_guid):
        raise UsageError(f"Invalid -g parameter: {mailbox_guid}")
    if namespaces and all_namespaces:
        raise UsageError("backup: -n and -N are mutually exclusive")
    if state:
        from dmf.dsync.state import decode_state  # its codec only for a run that has one

        decode_state(state)  # a garbage state fails here, before a destination is created
    start = parse_date(start_date) if start_date is not None else None
    end = parse_date(end_date) if end_date is not None else None
    options = SyncOptions(
        mode=SyncMode.BACKUP, full=full, mailbox=mailbox or None,
        mailbox_guid=mailbox_guid.lower() if mailbox_guid else None,
        namespaces=namespaces, all_namespaces=all_namespaces, excludes=excludes,
        start_date=start, end_date=end,
        lock_timeout=float(lock_secs) if lock_secs is not None else None,
        io_timeout=float(io_timeout), state=state)
    return BackupRequest(reverse=reverse, use_replica=use_replica, destination=destination,
                         options=options)


def sync_processes(settings: MailSettings) -> int:
    """The `dmf_sync_processes` setting: how many processes write mailboxes at once. Unset: one
    more than the usable CPUs, so that a CPU is not idle while a process waits for its batch's
    syncfs (on 2 CPUs three processes took 0.55-0.98x the time of two in each of 5 rounds), at
    most MAX_SYNC_PROCESSES (a cap, so that a large host does not fork dozens of writers onto
    one disk)."""
    value = settings.get("dmf_sync_processes")
    if value is None:
        return min(len(os.sched_getaffinity(0)) + 1, MAX_SYNC_PROCESSES)
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"dmf_sync_processes={value}: expected a whole number of at least 1")
    return int(value)


def _localize(options: SyncOptions, storage: Storage) -> SyncOptions:
    """Mailbox names given on the command line use the store's separator; dmf uses "/"."""
    return options._replace(
        mailbox=internal_name(options.mailbox, storage) if options.mailbox else None,
        excludes=tuple(internal_name(mask, storage) for mask in options.excludes))


def backup_user(session: Session, request: BackupRequest, mail_user: MailUser) -> int:
    """One user's backup; returns the exit code (0, or 2 when it must run again)."""
    own = mail_user.location
    other = require_local(replica_location(session.settings, mail_user)
                          if request.use_replica else request.destination or "")
    source_location, dest_location = (other, own) if request.reverse else (own, other)
    source = open_store(source_location, mail_user)
    try:
        dest = open_store(dest_location, mail_user,
                          owner=new_mail_owner(mail_user, dest_location), create=True)
        try:
            reporter = CliReporter(mail_user.name, separator=source.separator,
                                   verbose=session.options.verbose,
                                   debug=session.options.debug)
            try:
                try:
                    result = sync_user(source, dest, _localize(request.options, source),
                                       reporter)
                finally:
                    dest.close()  # first: the summary tells of durable changes only
            except BaseException as exc:
                # a run with failed mailboxes still carries its result: summarize it
                reporter.finish(getattr(exc, "sync_result", None))
                raise
            reporter.finish(result)
        finally:
            dest.close()  # also when the reporter failed to start (a second close is a no-op)
    finally:
        source.close()
    if request.options.state is not None and result.new_state is not None:
        sys.stdout.write(result.new_state + "\n")
        sys.stdout.flush()
    return result.exit_code


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-u", "user", metavar="USER", help="Back up this user (default: $USER).")
@click.option("-A", "all_users", is_flag=True, help="Every user of the userdb.")
@click.option("-F", "users_file", metavar="FILE", help="The users listed in FILE, one a line.")
@click.option("-f", "full", is_flag=True, help="Full sync: scan every message.")
@click.option("-R", "reverse", is_flag=True, help="Reverse: pull from the destination.")
@click.option("-l", "lock_secs", type=click.IntRange(min=0), metavar="SECS",
              help="Lock the user, waiting at most SECS.")
@click.option("-m", "mailbox", metavar="MAILBOX", help="Only this mailbox.")
@click.option("-g", "mailbox_guid", metavar="GUID", help="Only the mailbox with this GUID.")
@click.option("-n", "namespaces", multiple=True, metavar="NAMESPACE",
              help="Only this namespace (repeatable).")
@click.option("-N", "all_namespaces", is_flag=True, help="All namespaces.")
@click.option("-x", "excludes", multiple=True, metavar="MASK",
              help="Exclude mailboxes matching MASK (* and ?; repeatable).")
@click.option("-t", "start_date", metavar="DATE", help="Only mail received since DATE.")
@click.option("-e", "end_date", metavar="DATE", help="Only mail received before DATE.")
@click.option("-T", "io_timeout", type=click.IntRange(min=0), default=600, metavar="SECS",
              help="I/O timeout (default 600).")
@click.option("-s", "state", metavar="STATE",
              help="Stateful sync from STATE ('' when unknown); prints the new state.")
@click.option("-d", "use_replica", is_flag=True,
              help="The destination is the user's mail_replica userdb field.")
@click.argument("destination", required=False)
@click.pass_context
@guarded
def backup(ctx: click.Context, user: str | None, all_users: bool, users_file: str | None,
           full: bool, reverse: bool, lock_secs: int | None, mailbox: str | None,
           mailbox_guid: str | None, namespaces: tuple[str, ...], all_namespaces: bool,
           excludes: tuple[str, ...], start_date: str | None, end_date: str | None,
           io_timeout: int, state: str | None, use_replica: bool,
           destination: str | None) -> None:
    """One-way sync: make DESTINATION (a location such as maildir:PATH) identical to the
    user's mail, removing whatever else it holds."""
    request = build_request(
        full=full, reverse=reverse, lock_secs=lock_secs, mailbox=mailbox,
        mailbox_guid=mailbox_guid, namespaces=namespaces, all_namespaces=all_namespaces,
        excludes=excludes, start_date=start_date, end_date=end_date, io_timeout=io_timeout,
        state=state, use_replica=use_replica, destination=destination)
    session = start(ctx)
    request = request._replace(options=request.options._replace(
        processes=sync_processes(session.settings)))

    def run(mail_user: MailUser) -> int:
        if session.options.debug:
            configure_debug_logging(mail_user.name)
        return backup_user(session, request, mail_user)

    exit_code = run_per_user(session, user=user, all_users=all_users, users_file=users_file,
                             run=run, prefix="dsync({user})")
    if exit_code != EXIT_OK:
        ctx.exit(exit_code)
