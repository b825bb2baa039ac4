"""Command-line parsing for every dmf command, on argparse.

argparse rather than click: a no-change `dmf backup` runs thousands of times in a migration and
takes 0.10-0.14 s, of which importing click cost about 20 ms (click.core pulls in inspect, uuid,
platform, datetime, difflib, threading...) against about 2 ms for argparse.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from dmf.cli.context import GlobalOptions
from dmf.errors import EXIT_USAGE

# What a command runs once its arguments are parsed; it returns the exit code.
Handler = Callable[[GlobalOptions, argparse.Namespace], int]


@functools.cache
def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size tells it (COLUMNS, else the tty of
    stdout, else 80), asked once a run."""
    with contextlib.suppress(KeyError, ValueError):
        if (columns := int(os.environ["COLUMNS"])) > 0:
            return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told the width: argparse makes one per add_argument (to check
    the metavar), and left to itself each imports shutil (with zlib, bz2 and lzma: 4 ms of
    every run) and asks the terminal again."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The same, keeping the description's and epilog's line breaks."""


class Parser(argparse.ArgumentParser):
    """doveadm's conventions: `-h`, no abbreviated long options, options and arguments in any
    order, and a usage error is one line on stderr with exit 64 (argparse's own is 2)."""

    def __init__(self, prog: str, description: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(prog=prog, description=description, allow_abbrev=False, **kwargs)
        self._intermixing = False

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"Error: {self.prog}: {message}\n")
        sys.exit(EXIT_USAGE)

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        # `mailbox list A -u bob B` must work as it did: plain argparse ends a list of
        # arguments at the first option. Parsers that dispatch to others cannot intermix, and
        # one positional of at most one word (`backup [DEST]`) parses the same either way:
        # those parse plainly, as intermixed parsing formats the usage first (1.4 ms).
        positionals = [action for action in self._actions if not action.option_strings]
        dispatches = any(action.nargs in (argparse.PARSER, argparse.REMAINDER)
                         for action in positionals)
        single = len(positionals) <= 1 and all(action.nargs in (None, argparse.OPTIONAL)
                                               for action in positionals)
        if dispatches or single or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls back into this method
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def add_commands(self) -> argparse._SubParsersAction[Parser]:
        """A group's sub-commands: one is required, as `dmf mailbox` alone is a usage error."""
        return self.add_subparsers(title="commands", metavar="COMMAND", required=True)


def add_command(commands: argparse._SubParsersAction[Parser], name: str,
                run: Handler) -> Parser:
    """A group's sub-command, described by its handler's docstring as the help a user reads;
    the first sentence is its line in the group's help."""
    description = run.__doc__ or ""
    parser = commands.add_parser(name, help=summary(description), description=description)
    parser.set_defaults(run=run)
    return parser


def summary(description: str) -> str:
    """The first sentence, for a listing of commands."""
    text = " ".join(description.split())
    head, dot, _rest = text.partition(". ")
    return head + dot.strip()


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer type with bounds, so a bad value is a usage error naming the allowed range."""
    allowed = f"{low}<=x<={high}" if high is not None else f"x>={low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid integer") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not in the range {allowed}")
        return value

    return parse


def file_path(*, exists: bool = False, allow_dash: bool = False) -> Callable[[str], str]:
    """A file name checked before the command runs: never a directory, and when `exists`,
    a readable file (`-`, standing for stdin, when `allow_dash`)."""

    def parse(text: str) -> str:
        if allow_dash and text == "-":
            return text
        if os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"file {text!r} is a directory")
        if exists and not os.path.exists(text):
            raise argparse.ArgumentTypeError(f"file {text!r} does not exist")
        if exists and not os.access(text, os.R_OK):
            raise argparse.ArgumentTypeError(f"file {text!r} is not readable")
        return text

    return parse

