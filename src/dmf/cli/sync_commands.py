"""`dmf backup` in doveadm's grammar: parse argv into SyncOptions, run the engine per user.

This module is on the hot path of a no-change re-run (the whole run must stay under 0.4 s on
20,000 messages), so it imports only argparse, the engine and the store; rich only for a bar.
"""

import os
import re
import sys
from argparse import Namespace
from typing import NamedTuple

from dmf.cli.context import GlobalOptions
from dmf.cli.mail_user import (
    MailUser,
    replica_location,
    require_local,
)
from dmf.cli.parsing import Parser, int_range
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
from dmf.dsync.options import SyncMode, SyncOptions
from dmf.errors import ConfigError, UsageError
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
    start = end = None
    if start_date is not None or end_date is not None:
        from dmf.dsync.dates import parse_date  # only -t and -e need its formats

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


def configure(parser: Parser) -> None:
    parser.description = backup.__doc__
    add = parser.add_argument
    add("-u", dest="user", metavar="USER", help="Back up this user (default: $USER).")
    add("-A", dest="all_users", action="store_true", help="Every user of the userdb.")
    add("-F", dest="users_file", metavar="FILE", help="The users listed in FILE, one a line.")
    add("-f", dest="full", action="store_true", help="Full sync: scan every message.")
    add("-R", dest="reverse", action="store_true", help="Reverse: pull from the destination.")
    add("-l", dest="lock_secs", type=int_range(0), metavar="SECS",
        help="Lock the user, waiting at most SECS.")
    add("-m", dest="mailbox", metavar="MAILBOX", help="Only this mailbox.")
    add("-g", dest="mailbox_guid", metavar="GUID", help="Only the mailbox with this GUID.")
    add("-n", dest="namespaces", action="append", default=[], metavar="NAMESPACE",
        help="Only this namespace (repeatable).")
    add("-N", dest="all_namespaces", action="store_true", help="All namespaces.")
    add("-x", dest="excludes", action="append", default=[], metavar="MASK",
        help="Exclude mailboxes matching MASK (* and ?; repeatable).")
    add("-t", dest="start_date", metavar="DATE", help="Only mail received since DATE.")
    add("-e", dest="end_date", metavar="DATE", help="Only mail received before DATE.")
    add("-T", dest="io_timeout", type=int_range(0), default=600, metavar="SECS",
        help="I/O timeout (default 600).")
    add("-s", dest="state", metavar="STATE",
        help="Stateful sync from STATE ('' when unknown); prints the new state.")
    add("-d", dest="use_replica", action="store_true",
        help="The destination is the user's mail_replica userdb field.")
    add("destination", nargs="?", metavar="DESTINATION")
    parser.set_defaults(run=backup)


@guarded
def backup(options: GlobalOptions, args: Namespace) -> int:
    """One-way sync: make DESTINATION (a location such as maildir:PATH) identical to the
    user's mail, removing whatever else it holds."""
    request = build_request(
        full=args.full, reverse=args.reverse, lock_secs=args.lock_secs, mailbox=args.mailbox,
        mailbox_guid=args.mailbox_guid, namespaces=tuple(args.namespaces),
        all_namespaces=args.all_namespaces, excludes=tuple(args.excludes),
        start_date=args.start_date, end_date=args.end_date, io_timeout=args.io_timeout,
        state=args.state, use_replica=args.use_replica, destination=args.destination)
    session = start(options)
    request = request._replace(options=request.options._replace(
        processes=sync_processes(session.settings)))

    def run(mail_user: MailUser) -> int:
        if session.options.debug:
            configure_debug_logging(mail_user.name)
        return backup_user(session, request, mail_user)

    return run_per_user(session, user=args.user, all_users=args.all_users,
                        users_file=args.users_file, run=run, prefix="dsync({user})")
