"""doveadm's mailbox masks for `mailbox list/status` and `fetch ... mailbox NAME`.

A mask holding `*` or `%` is a glob (`*` any run of characters, `%` any run without the
hierarchy separator); anything else names one mailbox exactly. INBOX is case-insensitive,
as in IMAP. Masks are written with the store's separator, as the user sees the names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

INBOX = "INBOX"


def _canonical(name: str, separator: str) -> str:
    """Upper-case the INBOX level only: `inbox.Sub` and `INBOX.Sub` are the same mailbox."""
    head, sep, tail = name.partition(separator)
    return INBOX + sep + tail if head.upper() == INBOX else name


def is_glob(mask: str) -> bool:
    return "*" in mask or "%" in mask


def mask_pattern(mask: str, separator: str) -> re.Pattern[str]:
    not_separator = f"[^{re.escape(separator)}]*"
    parts = (".*" if ch == "*" else not_separator if ch == "%" else re.escape(ch)
             for ch in _canonical(mask, separator))
    return re.compile("".join(parts), re.DOTALL)


def matches_any(name: str, masks: Sequence[str], separator: str) -> bool:
    """True when no mask is given (everything) or one of them covers `name`."""
    if not masks:
        return True
    display = _canonical(name, separator)
    for mask in masks:
        if is_glob(mask):
            if mask_pattern(mask, separator).fullmatch(display):
                return True
        elif _canonical(mask, separator) == display:
            return True
    return False


def select(names: Iterable[str], masks: Sequence[str], separator: str) -> list[str]:
    """The display names covered by the masks, in the order given."""
    return [name for name in names if matches_any(name, masks, separator)]
