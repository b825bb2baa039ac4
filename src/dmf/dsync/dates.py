"""The date forms doveadm accepts for `-t` / `-e` (Dovecot's mail_parse_human_timestamp).

Accepted, tried in doveadm's order: `YYYY-MM-DD` (local midnight), an IMAP date `DD-Mon-YYYY`
(local midnight), epoch seconds (digits), and an interval back from now such as `30 days`,
`2w`, `12 hours` (units: secs/sec/s, mins/min/m, hours/hour/h, days/day/d, weeks/week/w).
Anything else is a usage error, as doveadm refuses it before touching any mailbox.
"""

from __future__ import annotations

import re
import time

from dmf.errors import UsageError

_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_IMAP_DAY = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_EPOCH = re.compile(r"\d+")
_INTERVAL = re.compile(r"(\d+)\s*([a-z]+)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_UNIT_SECONDS = {
    **dict.fromkeys(("secs", "sec", "s"), 1),
    **dict.fromkeys(("mins", "min", "m"), 60),
    **dict.fromkeys(("hours", "hour", "h"), 3600),
    **dict.fromkeys(("days", "day", "d"), 86400),
    **dict.fromkeys(("weeks", "week", "w"), 7 * 86400),
}


def _local_midnight(year: int, month: int, day: int, text: str) -> int:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise UsageError(f"Invalid date {text!r}: no such day")
    return int(time.mktime((year, month, day, 0, 0, 0, 0, 0, -1)))


def parse_date(text: str, now: float | None = None) -> int:
    """Epoch seconds for one of doveadm's date forms; `now` anchors relative intervals."""
    value = text.strip()
    if match := _ISO_DAY.fullmatch(value):
        year, month, day = (int(part) for part in match.groups())
        return _local_midnight(year, month, day, text)
    if match := _IMAP_DAY.fullmatch(value):
        month_name = match.group(2).lower()
        if month_name not in _MONTHS:
            raise UsageError(f"Invalid date {text!r}: unknown month {match.group(2)!r}")
        return _local_midnight(int(match.group(3)), _MONTHS.index(month_name) + 1,
                               int(match.group(1)), text)
    if _EPOCH.fullmatch(value):
        return int(value)
    if (match := _INTERVAL.fullmatch(value.lower())) and match.group(2) in _UNIT_SECONDS:
        anchor = time.time() if now is None else now
        return int(anchor) - int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise UsageError(f"Invalid date {text!r}: expected YYYY-MM-DD, DD-Mon-YYYY, epoch seconds "
                     "or an interval such as '30 days'")
