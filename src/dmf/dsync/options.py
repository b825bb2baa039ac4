"""What a caller asks of a sync run and what it gets back: plain values shared by cli/ and the
engine, so the engine never sees argv and the CLI never sees plans."""

import enum
from typing import NamedTuple

from dmf.errors import EXIT_NOT_PERFECT, EXIT_OK


class SyncMode(enum.Enum):
    BACKUP = "backup"  # one-way; the destination ends identical, extra content removed
    TWO_WAY = "sync"  # merge both sides, lose nothing
    ONE_WAY_MERGE = "sync-1"  # sync -1: one-way, destination changes merged, nothing deleted


class SyncOptions(NamedTuple):
    mode: SyncMode = SyncMode.BACKUP
    full: bool = False  # -f: scan every message of every mailbox
    mailbox: str | None = None  # -m, "/"-separated
    mailbox_guid: str | None = None  # -g
    namespaces: tuple[str, ...] = ()  # -n
    all_namespaces: bool = False  # -N
    excludes: tuple[str, ...] = ()  # -x masks with * and ?, "/"-separated
    start_date: int | None = None  # -t, epoch seconds
    end_date: int | None = None  # -e, epoch seconds
    lock_timeout: float | None = None  # -l seconds; None: no lock
    io_timeout: float = 600.0  # -T seconds
    state: str | None = None  # -s: previous state ("" when unknown); None: not stateful
    processes: int = 1  # mailboxes written by this many processes at once (dmf_sync_processes)


class MailboxResult:
    """One mailbox's outcome, counted as the run goes; also the payload of its structured
    event line."""

    __slots__ = ("name", "saved", "expunged", "flag_changes", "bytes_saved", "created",
                 "deleted", "errors")

    def __init__(self, name: str, saved: int = 0, expunged: int = 0, flag_changes: int = 0,
                 bytes_saved: int = 0, created: bool = False, deleted: bool = False,
                 errors: list[str] | None = None) -> None:
        self.name = name
        self.saved = saved
        self.expunged = expunged
        self.flag_changes = flag_changes
        self.bytes_saved = bytes_saved
        self.created = created
        self.deleted = deleted
        self.errors: list[str] = [] if errors is None else errors


class SyncResult:
    __slots__ = ("mailboxes", "new_state", "perfect", "seconds")

    def __init__(self, mailboxes: list[MailboxResult] | None = None, perfect: bool = True,
                 seconds: float = 0.0) -> None:
        self.mailboxes: list[MailboxResult] = [] if mailboxes is None else mailboxes
        self.new_state: str | None = None
        self.perfect = perfect  # False: done without errors but something must be synced again
        self.seconds = seconds

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.perfect else EXIT_NOT_PERFECT
