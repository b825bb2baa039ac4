"""Dates doveadm reports that a Maildir does not store as such."""

from __future__ import annotations

import os

from dmf.mail.model import MessageMeta
from dmf.mail.storage import Mailbox


def save_date(mailbox: Mailbox, message: MessageMeta) -> int:
    """Maildir keeps no save date: Dovecot reports the file's ctime, and so does dmf (the
    internal date where the store has no file)."""
    path = mailbox.body_path(message.uid)
    if path is None:
        return message.internal_date
    return int(os.stat(path).st_ctime)
