"""How the engine tells a front end what it is doing, without knowing what a terminal is.

The CLI implements `SyncReporter` (the human `-v` line, the progress bar and the structured event
line); the engine only calls it. Warnings are not errors: a warned mailbox is still synced.
"""

from __future__ import annotations

from typing import Protocol

from dmf.dsync.options import MailboxResult


class SyncReporter(Protocol):
    # Whether message_saved shows anywhere (-D, a progress bar). A run in several processes
    # sends a child's message_saved calls to the parent only then: otherwise they cost every
    # message a pickle, a share of a socket write and a replay, for nothing.
    per_message: bool

    def mailbox_started(self, name: str, to_save: int) -> None: ...

    def message_saved(self, name: str, size: int) -> None: ...

    def mailbox_done(self, result: MailboxResult) -> None: ...

    def warn(self, name: str, message: str) -> None: ...


class SilentReporter:
    """The reporter of callers that want only the final SyncResult (tests, the worker)."""

    per_message = False

    def mailbox_started(self, name: str, to_save: int) -> None:
        pass

    def message_saved(self, name: str, size: int) -> None:
        pass

    def mailbox_done(self, result: MailboxResult) -> None:
        pass

    def warn(self, name: str, message: str) -> None:
        pass
