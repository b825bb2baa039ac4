"""`dmf user [-f field] USER...`: doveadm's userdb lookup, answered from the configured
userdb (no auth service needed)."""

from __future__ import annotations

import sys
from argparse import Namespace

from dmf.cli.context import GlobalOptions
from dmf.cli.parsing import Parser
from dmf.cli.run import guarded
from dmf.cli.session import start
from dmf.errors import EXIT_UNKNOWN_USER
from dmf.mail.userdb import UserRecord


def describe_user(record: UserRecord) -> str:
    """doveadm's listing: `userdb: NAME`, then one `  field     : value` line per field."""
    lines = [f"userdb: {record.user}"]
    lines += [f"  {key:<10}: {value}" for key, value in record.fields.items()]
    return "\n".join(lines) + "\n"


def configure(parser: Parser) -> None:
    parser.description = user.__doc__
    parser.add_argument("-f", dest="field", metavar="FIELD",
                        help="Print only this field's value (e.g. home).")
    parser.add_argument("users", nargs="+", metavar="USER")
    parser.set_defaults(run=user)


@guarded
def user(options: GlobalOptions, args: Namespace) -> int:
    """Look USER up in the userdb of -c FILE and print its fields."""
    session = start(options)
    field: str | None = args.field
    exit_code = 0
    for name in args.users:
        record = session.userdb.lookup(name) if session.userdb else None
        if record is None:
            # as doveadm: the notice goes to stdout for a listing, to stderr with -f
            print(f"userdb lookup: user {name} doesn't exist",
                  file=sys.stdout if field is None else sys.stderr, flush=True)
            exit_code = EXIT_UNKNOWN_USER
        elif field is not None:
            if field in record.fields:
                print(record.fields[field], flush=True)
        else:
            print(describe_user(record), end="", flush=True)
    return exit_code
