"""Plain values describing mailboxes and messages, shared by every backend and the sync engine.

Mailbox names inside dmf are Unicode strings whose hierarchy levels are separated by "/",
whatever the store's own separator is; each backend maps to and from its on-disk or on-wire form,
and front ends convert for display with `Storage.separator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HIERARCHY_SEPARATOR = "/"

# IMAP system flags a store keeps per message (\Recent is per session and never stored).
SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
SYSTEM_FLAGS = frozenset({SEEN, ANSWERED, FLAGGED, DELETED, DRAFT})


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """What identifies a message and what a client can observe of it, without its body."""

    uid: int
    guid: str
    flags: frozenset[str] = frozenset()  # a subset of SYSTEM_FLAGS
    keywords: frozenset[str] = frozenset()
    internal_date: int = 0  # seconds since the epoch (Maildir: the file's mtime)
    size: int = 0  # physical size in bytes, as stored
    vsize: int | None = None  # size with CRLF line ends, when known
    modseq: int = 0
    pop3_uidl: str | None = None
    pop3_order: int | None = None


@dataclass(frozen=True, slots=True)
class MailboxMeta:
    """The per-mailbox values a client sees in STATUS / SELECT and the engine compares."""

    name: str  # "/"-separated, Unicode
    guid: str  # 32 lowercase hex digits
    uidvalidity: int
    uidnext: int
    highestmodseq: int = 0


@dataclass(frozen=True, slots=True)
class MailboxChange:
    """A flag update for one message: the complete new flag and keyword sets."""

    uid: int
    flags: frozenset[str]
    keywords: frozenset[str] = field(default_factory=frozenset)
