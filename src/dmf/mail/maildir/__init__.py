"""Dovecot-compatible Maildir storage (Maildir++ and LAYOUT=fs), read and write.

`MaildirStorage` (store.py) is the entry point; `dmf.mail.location.open_storage` builds one
from a Dovecot location string. The other modules hold one on-disk format each.
"""

from dmf.mail.maildir.store import MaildirStorage

__all__ = ["MaildirStorage"]
