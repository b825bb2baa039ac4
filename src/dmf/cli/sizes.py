"""The virtual size (CRLF line ends) of a message whose store did not record one.

Dovecot reports vsize as if every bare LF were CRLF; a Maildir file without `,W=` makes it
read the body, and dmf does the same so that status and fetch print Dovecot's numbers.
"""

from __future__ import annotations

from dmf.mail.model import MessageMeta
from dmf.mail.storage import Mailbox

CHUNK = 1 << 16


def virtual_size(mailbox: Mailbox, message: MessageMeta) -> int:
    if message.vsize is not None:
        return message.vsize
    size = bare_lf = 0
    previous = b""
    with mailbox.open_body(message.uid) as body:
        while chunk := body.read(CHUNK):
            size += len(chunk)
            bare_lf += chunk.count(b"\n") - chunk.count(b"\r\n")
            if chunk[:1] == b"\n" and previous == b"\r":
                bare_lf -= 1  # a CRLF split across two chunks
            previous = chunk[-1:]
    return size + bare_lf
