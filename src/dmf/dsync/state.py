"""The `-s` sync state: a frozen, versioned value in the binary layout doveadm prints.

Layout (little endian), then base64: a uint32 major version (1); per mailbox 16 bytes of
mailbox GUID, uint32 UIDVALIDITY, uint32 last common UID, uint64 last common modseq, uint64 last
common private modseq, uint32 message count at the last sync; then a CRC-32 of everything
before it. Keeping doveadm's layout lets a state printed by either tool be handed to the other.

doveadm itself logs "Saved sync state is invalid" and falls back to a full sync on garbage;
dmf refuses it instead (UsageError, exit 64) before touching anything, since bad input must
change nothing and a typo in a scripted state should not pass silently.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from typing import NamedTuple

from dmf.errors import UsageError

STATE_MAJOR_VERSION = 1
_HEADER = struct.Struct("<I")
_MAILBOX = struct.Struct("<16sIIQQI")
_CRC = struct.Struct("<I")


class MailboxState(NamedTuple):
    guid: str  # 32 lowercase hex digits
    uidvalidity: int
    last_common_uid: int
    last_common_modseq: int = 0
    last_common_pvt_modseq: int = 0
    last_messages_count: int = 0


class SyncState(NamedTuple):
    mailboxes: tuple[MailboxState, ...] = ()

    def by_guid(self) -> dict[str, MailboxState]:
        return {mailbox.guid: mailbox for mailbox in self.mailboxes}


def encode_state(state: SyncState) -> str:
    """The base64 text printed for `-s`; mailboxes sorted by GUID so equal states print equal."""
    payload = bytearray(_HEADER.pack(STATE_MAJOR_VERSION))
    for mailbox in sorted(state.mailboxes, key=lambda m: m.guid):
        payload += _MAILBOX.pack(bytes.fromhex(mailbox.guid), mailbox.uidvalidity,
                                 mailbox.last_common_uid, mailbox.last_common_modseq,
                                 mailbox.last_common_pvt_modseq, mailbox.last_messages_count)
    payload += _CRC.pack(zlib.crc32(payload))
    return base64.b64encode(bytes(payload)).decode("ascii")


def decode_state(text: str) -> SyncState:
    """Parse a `-s` value; "" means "unknown" (an empty state). Garbage raises UsageError."""
    if not text.strip():
        return SyncState()
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("Invalid -s state: not base64") from None
    body_size = len(raw) - _HEADER.size - _CRC.size
    if body_size < 0 or body_size % _MAILBOX.size:
        raise UsageError(f"Invalid -s state: {len(raw)} bytes is not a whole state")
    (crc,) = _CRC.unpack_from(raw, len(raw) - _CRC.size)
    if zlib.crc32(raw[:-_CRC.size]) != crc:
        raise UsageError("Invalid -s state: checksum mismatch (truncated or altered)")
    (major,) = _HEADER.unpack_from(raw)
    if major != STATE_MAJOR_VERSION:
        raise UsageError(f"Invalid -s state: unsupported version {major}")
    mailboxes = []
    for offset in range(_HEADER.size, _HEADER.size + body_size, _MAILBOX.size):
        guid, uidvalidity, uid, modseq, pvt_modseq, count = _MAILBOX.unpack_from(raw, offset)
        mailboxes.append(MailboxState(guid.hex(), uidvalidity, uid, modseq, pvt_modseq, count))
    return SyncState(tuple(mailboxes))
