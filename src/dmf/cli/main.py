"""`dmf` entry point: doveadm's global options, then a sub-command loaded only when called.

Sub-commands are imported lazily so that `dmf backup` does not pay for FastAPI or SQLAlchemy:
interpreter start-up and imports count in a no-change re-run (the same reason the parsing is
argparse's: see dmf.cli.parsing).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from dmf.cli.context import GlobalOptions
from dmf.cli.parsing import Parser, RawDescriptionHelpFormatter, file_path
from dmf.errors import ConfigError, DmfError

# name -> (module whose `configure(parser)` sets the command up, its line in `dmf -h`): the
# listing must not import the modules it lists.
COMMANDS: dict[str, tuple[str, str]] = {
    "backends": ("dmf.cli.backends",
                 "Watch and steer the workers registered with the scheduler."),
    "backup": ("dmf.cli.sync_commands",
               "One-way sync: make DESTINATION identical to the user's mail."),
    "fetch": ("dmf.cli.fetch", "Print FIELDS of the messages matching QUERY."),
    "jobs": ("dmf.cli.jobs", "Submit and manage migration jobs on the scheduler."),
    "mailbox": ("dmf.cli.mailbox", "Inspect a user's mailboxes (doveadm mailbox ...)."),
    "scheduler": ("dmf.cli.scheduler", "Run the scheduler's admin REST API."),
    "user": ("dmf.cli.user", "Look USER up in the userdb of -c FILE and print its fields."),
    "worker": ("dmf.cli.worker",
               "Run the migration worker: claim jobs, run them, obey PAUSE/START/STOP."),
}
FORMATTERS = ("tab", "flow", "json", "table", "pager")


class _Version(argparse.Action):
    """`--version`, reading the installed version only when asked: importlib.metadata costs
    every run otherwise."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0,
                         help="Show the version and exit.")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from importlib.metadata import version

        sys.stdout.write(f"dmf, version {version('dmf')}\n")
        parser.exit()


def _global_parser() -> Parser:
    listing = "\n".join(f"  {name:<10} {line}" for name, (_module, line) in COMMANDS.items())
    parser = Parser(
        "dmf", description="dmf: mail migration with doveadm's grammar.",
        usage="dmf [-Dv] [-o key=value]... [-c FILE] [-f FORMAT] COMMAND [ARGS]...",
        epilog=f"commands:\n{listing}", formatter_class=RawDescriptionHelpFormatter)
    parser.add_argument("-D", dest="debug", action="store_true",
                        help="Log every action (debug).")
    parser.add_argument("-v", dest="verbose", action="store_true",
                        help="Progress and a summary on stderr.")
    parser.add_argument("-o", dest="settings", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="Override a setting, e.g. -o mail_location=maildir:~/Maildir. "
                             "Repeatable.")
    parser.add_argument("-f", dest="formatter", choices=FORMATTERS,
                        help="Output format of listing commands.")
    parser.add_argument("-c", dest="config_file", metavar="FILE", type=file_path(),
                        help="Configuration file (mail_location, userdb).")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("command", metavar="COMMAND", choices=COMMANDS,
                        help="One of the commands below; `dmf COMMAND -h` tells more.")
    # the command's own options and arguments, which may be none
    parser.add_argument("arguments", nargs=argparse.REMAINDER,
                        help=argparse.SUPPRESS).required = False
    return parser


def parse_setting(value: str) -> tuple[str, str]:
    key, sep, setting = value.partition("=")
    if not sep or not key:
        # doveadm: "Error reading configuration: Invalid -o parameter": a config error (78)
        raise ConfigError(f"Invalid value: -o {value!r}: expected key=value")
    return key, setting


def main(argv: list[str] | None = None) -> None:
    """Console script. The exit code is the command's, in doveadm's scheme; Ctrl-C ends with 1
    and a new line rather than a traceback, as dmf always has."""
    try:
        code = _run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        code = 1
    finally:
        # The interpreter's teardown ends with a collection over every object of the run;
        # frozen, they are only freed. Measured: 14 ms -> 4 ms of every dmf run's exit.
        gc.freeze()
    sys.exit(code)


def _run(argv: list[str]) -> int:
    top = _global_parser().parse_args(argv)
    try:
        settings = tuple(parse_setting(s) for s in top.settings)
    except DmfError as exc:  # before the command is even parsed, as doveadm does
        from dmf.cli.run import report

        return report(exc)
    options = GlobalOptions(debug=top.debug, verbose=top.verbose, settings=settings,
                            formatter=top.formatter, config_file=top.config_file)
    parser = Parser(f"dmf {top.command}")
    importlib.import_module(COMMANDS[top.command][0]).configure(parser)
    args = parser.parse_args(top.arguments)
    # What start-up made lives as long as the process: frozen, the collector (off since
    # dmf.__main__, when that is how dmf started) never looks at it again.
    gc.freeze()
    gc.enable()
    return args.run(options, args)
