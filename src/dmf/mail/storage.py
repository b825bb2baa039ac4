"""The contract every mail store implements, small on purpose (as isync's driver_t).

The sync engine sees only this protocol. It branches on `Storage.capabilities`, never on the
concrete class, so wrapper stores (tracing, dry run, fault injection) slot in anywhere.
Writes are batched: `save`, `update_flags` and `expunge` may be buffered and become durable
together at `Mailbox.commit()` (or, with `wait=False`, by the mailbox's next use or close); a
crash before that loses the batch, never leaves an index entry for a message that is not on
disk.
"""

import enum
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, NamedTuple, Protocol, runtime_checkable

from dmf.mail.model import MailboxChange, MailboxMeta, MessageMeta


class Capability(enum.Enum):
    SETTABLE_UIDS = "settable-uids"  # save with a chosen UID; set UIDVALIDITY and UIDNEXT
    MESSAGE_GUIDS = "message-guids"  # message GUIDs are stored, not derived from headers
    MAILBOX_GUIDS = "mailbox-guids"  # mailbox GUIDs are stored and settable at creation
    MODSEQS = "modseqs"  # per-message modseqs and HIGHESTMODSEQ are meaningful
    HARDLINKS = "hardlinks"  # bodies are files: a copy on one filesystem can be a hard link
    CRLF = "crlf"  # bodies are stored with CRLF line ends
    SUBSCRIPTIONS = "subscriptions"
    LOCKING = "locking"  # lock() really excludes other dmf / Dovecot writers
    SUMMARIES = "summaries"  # Mailbox.summary() is implemented (fast mode's cheap test)
    FORK_SAFE = "fork-safe"  # forked processes may write different mailboxes at once
    STAGED_BODIES = "staged-bodies"  # stage() bodies in one process, save_staged() in another


class Body(NamedTuple):
    """A message body to save: always openable as a stream; `path` names a file holding exactly
    these bytes on the destination's side, which a backend may hard-link instead of copying."""

    open: Callable[[], BinaryIO]
    path: str | None = None


class StagedBody(NamedTuple):
    """A body written by `Mailbox.stage` and not yet part of any mailbox: an open unnamed file
    (its descriptor may be passed to another process of the run), its size and vsize."""

    fd: int
    size: int
    vsize: int | None


@runtime_checkable
class Mailbox(Protocol):
    @property
    def meta(self) -> MailboxMeta: ...

    def messages(self, since_modseq: int = 0) -> Iterator[MessageMeta]:
        """Messages in ascending UID order (only those changed after `since_modseq` if > 0)."""
        ...

    def open_body(self, uid: int) -> BinaryIO:
        """The message's bytes; possibly unbuffered (a short read is not the end): wrap it in
        io.BufferedReader to read it line by line."""
        ...

    def body_path(self, uid: int) -> str | None:
        """The file holding the body, for stores with HARDLINKS; None otherwise."""
        ...

    def recent_count(self) -> int: ...

    def summary(self) -> Hashable:
        """SUMMARIES only: a value computed without per-message I/O (e.g. from one directory
        listing) that two mailboxes holding the same messages with the same flags and keywords
        share, and that almost any change alters (message count, flag and keyword histogram).
        The engine's fast mode skips a mailbox whose UIDVALIDITY, UIDNEXT and summary are
        equal on both sides; `-f` scans regardless."""
        ...

    def save(self, meta: MessageMeta, body: Body) -> int:
        """Store a message; with SETTABLE_UIDS and meta.uid > 0 it gets exactly that UID.
        Returns the UID given. Durable after commit()."""
        ...

    def stage(self, meta: MessageMeta, body: Body) -> StagedBody | None:
        """STAGED_BODIES only: write the body where `save_staged` of this mailbox, in this
        process or another of the run, can take it over; nothing of the mailbox changes. None
        when that is not possible now (save() it instead)."""
        ...

    def save_staged(self, meta: MessageMeta, staged: StagedBody) -> int:
        """STAGED_BODIES only: save() with the body `stage` wrote; takes over its descriptor
        (closed also when the save is refused)."""
        ...

    def drop_staged(self, staged: StagedBody) -> None:
        """STAGED_BODIES only: close this process's descriptor of a staged body (the body
        lives on where it was handed over, else it goes)."""
        ...

    def update_flags(self, changes: Iterable[MailboxChange]) -> None: ...

    def expunge(self, uids: Iterable[int]) -> None: ...

    def set_uid_state(self, uidvalidity: int, uidnext: int) -> None:
        """SETTABLE_UIDS only: make UIDVALIDITY and UIDNEXT exactly these values."""
        ...

    def commit(self, wait: bool = True) -> None:
        """Make the batch durable and visible together. Without `wait` the store may finish
        that in the background: the mailbox's next use or close (or the store's) waits for it
        and raises what it met, and only then is the batch known to be durable."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Storage(Protocol):
    capabilities: frozenset[Capability]
    separator: str  # the hierarchy separator users see for this store (display only)

    def list_mailboxes(self) -> list[MailboxMeta]: ...

    def mailbox(self, name: str) -> Mailbox:
        """Open an existing mailbox; NotFoundError if there is none."""
        ...

    def create_mailbox(self, name: str, guid: str | None = None,
                       uidvalidity: int | None = None) -> Mailbox: ...

    def creating(self) -> AbstractContextManager[None]:
        """Mailboxes created inside may be finished (made durable, readable) together as it
        ends; nothing reads them before."""
        ...

    def rename_mailbox(self, old: str, new: str) -> None: ...

    def delete_mailbox(self, name: str) -> None: ...

    def subscriptions(self) -> frozenset[str]: ...

    def set_subscriptions(self, names: Iterable[str]) -> None: ...

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        """Exclude concurrent syncs of this user; TemporaryError after `timeout` seconds."""
        ...

    def close(self) -> None: ...
