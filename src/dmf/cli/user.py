"""`dmf user [-f field] USER...`: doveadm's userdb lookup, answered from the configured
userdb (no auth service needed)."""

from __future__ import annotations

import click

from dmf.cli.run import guarded
from dmf.cli.session import start
from dmf.errors import EXIT_UNKNOWN_USER
from dmf.mail.userdb import UserRecord


def describe_user(record: UserRecord) -> str:
    """doveadm's listing: `userdb: NAME`, then one `  field     : value` line per field."""
    lines = [f"userdb: {record.user}"]
    lines += [f"  {key:<10}: {value}" for key, value in record.fields.items()]
    return "\n".join(lines) + "\n"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "field", metavar="FIELD", help="Print only this field's value (e.g. home).")
@click.argument("users", nargs=-1, required=True)
@click.pass_context
@guarded
def user(ctx: click.Context, field: str | None, users: tuple[str, ...]) -> None:
    """Look USER up in the userdb of -c FILE and print its fields."""
    session = start(ctx)
    exit_code = 0
    for name in users:
        record = session.userdb.lookup(name) if session.userdb else None
        if record is None:
            # as doveadm: the notice goes to stdout for a listing, to stderr with -f
            click.echo(f"userdb lookup: user {name} doesn't exist", err=field is not None)
            exit_code = EXIT_UNKNOWN_USER
        elif field is not None:
            if field in record.fields:
                click.echo(record.fields[field])
        else:
            click.echo(describe_user(record), nl=False)
    if exit_code:
        ctx.exit(exit_code)
