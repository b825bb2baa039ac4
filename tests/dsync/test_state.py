"""The -s state: doveadm's own output decodes and re-encodes byte for byte; garbage is a usage
error."""

from __future__ import annotations

import base64

import pytest

from dmf.dsync.state import MailboxState, SyncState, decode_state, encode_state
from dmf.errors import UsageError

# printed by `doveadm backup -s ''` (Dovecot 2.3.19.1) for one mailbox holding one message
DOVEADM_STATE = "AQAAAGsZuQSChARrOyYAAIPsw3WChARrAQAAAAIAAAAAAAAAAAAAAAAAAAABAAAArzy8qA=="
DOVEADM_MAILBOX = MailboxState(guid="6b19b9048284046b3b26000083ecc375", uidvalidity=1795458178,
                               last_common_uid=1, last_common_modseq=2,
                               last_common_pvt_modseq=0, last_messages_count=1)


def test_doveadm_state_round_trips() -> None:
    state = decode_state(DOVEADM_STATE)
    assert state == SyncState((DOVEADM_MAILBOX,))
    assert encode_state(state) == DOVEADM_STATE


def test_empty_state_means_unknown() -> None:
    assert decode_state("") == SyncState()
    assert decode_state(encode_state(SyncState())) == SyncState()


def test_encoding_is_order_independent() -> None:
    other = MailboxState("00" * 16, 5, 9, 10, 0, 3)
    assert encode_state(SyncState((DOVEADM_MAILBOX, other))) == \
        encode_state(SyncState((other, DOVEADM_MAILBOX)))


@pytest.mark.parametrize(("text", "problem"), [
    ("garbage!!", "not base64"),
    ("QUJDREVGRw==", "not a whole state"),
    (DOVEADM_STATE[:-8] + "AAAAAA==", "checksum"),
    (base64.b64encode(b"\x02\0\0\0" + b"\0" * 4).decode(), "checksum"),
])
def test_garbage_is_a_usage_error(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem) as caught:
        decode_state(text)
    assert caught.value.exit_code == 64
