"""Plain values describing mailboxes and messages, shared by every backend and the sync engine.

Mailbox names inside dmf are Unicode strings whose hierarchy levels are separated by "/",
whatever the store's own separator is; each backend maps to and from its on-disk or on-wire form,
and front ends convert for display with `Storage.separator`.

Immutable values here and across the mail engine and its commands (dmf.mail, dmf.dsync,
dmf.cli) are NamedTuples rather than frozen dataclasses: on Python 3.11 a frozen dataclass takes
about 1 ms to define (six generated methods, each compiled) against 0.2 ms, and every dmf command
pays for the classes it imports before it starts (24 of them: 11-14 ms of a backup's imports).
They build faster per message too. Mutable state on a command's path is a plain class with
__slots__ and its own __init__ (a slots dataclass still costs 0.4 ms to define, and importing
dataclasses pulls in inspect); the long-running services keep dataclasses. A module that
defines NamedTuples does without `from __future__ import annotations`: typing compiles each
field's annotation when it is a string (a ForwardRef, ~25 us) and takes an evaluated one as it
is (1.1 ms of a backup's start-up over 16 modules); their other annotations name later or
TYPE_CHECKING-only classes in quotes.
"""

from typing import NamedTuple

HIERARCHY_SEPARATOR = "/"

# IMAP system flags a store keeps per message (\Recent is per session and never stored).
SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
SYSTEM_FLAGS = frozenset({SEEN, ANSWERED, FLAGGED, DELETED, DRAFT})


class MessageMeta(NamedTuple):
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


class MailboxMeta(NamedTuple):
    """The per-mailbox values a client sees in STATUS / SELECT and the engine compares."""

    name: str  # "/"-separated, Unicode
    guid: str  # 32 lowercase hex digits
    uidvalidity: int
    uidnext: int
    highestmodseq: int = 0


class MailboxChange(NamedTuple):
    """A flag update for one message: the complete new flag and keyword sets."""

    uid: int
    flags: frozenset[str]
    keywords: frozenset[str] = frozenset()
