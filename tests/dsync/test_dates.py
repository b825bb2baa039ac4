"""doveadm's -t/-e date forms."""

from __future__ import annotations

import time

import pytest

from dmf.dsync.dates import parse_date
from dmf.errors import UsageError

NOW = 1_800_000_000


@pytest.mark.parametrize(("text", "expected"), [
    ("1700000000", 1700000000),
    ("2024-03-01", int(time.mktime((2024, 3, 1, 0, 0, 0, 0, 0, -1)))),
    ("1-Mar-2024", int(time.mktime((2024, 3, 1, 0, 0, 0, 0, 0, -1)))),
    ("30 days", NOW - 30 * 86400),
    ("2w", NOW - 14 * 86400),
    ("12 hours", NOW - 12 * 3600),
    ("90 secs", NOW - 90),
])
def test_accepted_forms(text: str, expected: int) -> None:
    assert parse_date(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["garbage", "2024-13-01", "1-Foo-2024", "3 fortnights", ""])
def test_rejected_forms_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="Invalid date"):
        parse_date(text, now=NOW)
