"""What `dmf backup` tells a person (-v) and a log analyzer (-v / -D) while it runs.

Per mailbox, one human line (-v) and one structured event line (-v or -D):
    dsync(<user>): Info: dmf-event {"mailbox": "INBOX", "saved": 3, ...}
The event is the literal prefix and one compact JSON object, so a parser needs no regex on prose.
rich is imported only when a progress bar is really drawn (-v with stderr on a terminal):
the no-change re-run must not pay for it.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from dmf.dsync.options import MailboxResult, SyncResult

EVENT_TAG = "dmf-event"


def event_payload(result: MailboxResult, display: str) -> dict[str, Any]:
    return {"mailbox": display, "saved": result.saved, "expunged": result.expunged,
            "flag_changes": result.flag_changes, "bytes": result.bytes_saved,
            "errors": list(result.errors), "created": result.created,
            "deleted": result.deleted}


def event_line(user: str, result: MailboxResult, display: str) -> str:
    import json  # events are printed with -v or -D only: start-up is spared it otherwise

    return f"dsync({user}): Info: {EVENT_TAG} {json.dumps(event_payload(result, display))}"


def mailbox_line(user: str, result: MailboxResult, display: str) -> str:
    state = " (created)" if result.created else " (deleted)" if result.deleted else ""
    return (f"dsync({user}): Info: Mailbox {display}{state}: saved {result.saved}, "
            f"expunged {result.expunged}, flag changes {result.flag_changes}, "
            f"{result.bytes_saved} bytes, {len(result.errors)} errors")


def summary_line(user: str, result: SyncResult) -> str:
    saved = sum(box.saved for box in result.mailboxes)
    expunged = sum(box.expunged for box in result.mailboxes)
    size = sum(box.bytes_saved for box in result.mailboxes)
    return (f"dsync({user}): Info: Done: {len(result.mailboxes)} mailboxes, {saved} messages "
            f"saved, {expunged} expunged, {size} bytes, {result.seconds:.2f} seconds")


class CliReporter:
    """The engine's SyncReporter for the command line; names arrive "/"-separated."""

    def __init__(self, user: str, *, separator: str, verbose: bool, debug: bool,
                 stream: TextIO | None = None) -> None:
        self.user = user
        self._separator = separator
        self._verbose = verbose
        self._debug = debug
        self._events = verbose or debug
        self._stream = stream or sys.stderr
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}  # by mailbox: several run at once in processes
        if verbose and self._stream.isatty():
            self._bar = _start_bar(self._stream)
        self.per_message = debug or self._bar is not None

    def _display(self, name: str) -> str:
        return name.replace("/", self._separator) if self._separator != "/" else name

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self._stream.write(line + "\n")

    def _debug_line(self, text: str) -> None:
        self._write(f"dsync({self.user}): Debug: {text}")

    def mailbox_started(self, name: str, to_save: int) -> None:
        if self._debug:
            self._debug_line(f"Mailbox {self._display(name)}: {to_save} messages to save")
        if self._bar is not None:
            self._tasks[name] = self._bar.add_task(self._display(name), total=max(to_save, 1))

    def message_saved(self, name: str, size: int) -> None:
        if self._debug:
            self._debug_line(f"Mailbox {self._display(name)}: saved a message of {size} bytes")
        task = self._tasks.get(name)
        if task is not None:
            self._bar.advance(task)

    def mailbox_done(self, result: MailboxResult) -> None:
        display = self._display(result.name)
        task = self._tasks.pop(result.name, None)
        if task is not None:
            self._bar.remove_task(task)
        if self._verbose:
            self._write(mailbox_line(self.user, result, display))
        if self._events:
            self._write(event_line(self.user, result, display))

    def warn(self, name: str, message: str) -> None:
        self._write(f"dsync({self.user}): Warning: Mailbox {self._display(name)}: {message}")

    def finish(self, result: SyncResult | None) -> None:
        """Stop the bar; print the summary under -v (None: the run failed, no summary)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._verbose and result is not None:
            self._stream.write(summary_line(self.user, result) + "\n")


def _start_bar(stream: TextIO) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=Console(file=stream), transient=True)
    bar.start()
    return bar


def configure_debug_logging(user: str, stream: TextIO | None = None) -> None:
    """-D: every logger of dmf at DEBUG, one doveadm-style line per record on stderr."""
    import logging

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(f"dsync({user}): Debug: %(name)s: %(message)s"))
    logger = logging.getLogger("dmf")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
