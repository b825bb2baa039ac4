"""How `dmf backup`'s argv becomes SyncOptions (no mail touched)."""

from __future__ import annotations

import time

import pytest

from dmf.cli.sync_commands import build_request
from dmf.dsync.options import SyncMode
from dmf.errors import UsageError

DEFAULTS = dict(full=False, reverse=False, lock_secs=None, mailbox=None, mailbox_guid=None,
                namespaces=(), all_namespaces=False, excludes=(), start_date=None,
                end_date=None, io_timeout=600, state=None, use_replica=False,
                destination="maildir:/d")


def test_flags_become_sync_options() -> None:
    request = build_request(**{**DEFAULTS, "full": True, "reverse": True, "lock_secs": 5,
                               "mailbox": "Archive.2024", "excludes": ("Spam*",),
                               "mailbox_guid": "AB" * 16, "start_date": "2024-01-02",
                               "end_date": "1700000000", "io_timeout": 30, "state": ""})
    options = request.options
    assert request.reverse and options.mode is SyncMode.BACKUP and options.full
    assert (options.lock_timeout, options.io_timeout) == (5.0, 30.0)
    assert options.mailbox_guid == "ab" * 16
    assert options.start_date == int(time.mktime((2024, 1, 2, 0, 0, 0, 0, 0, -1)))
    assert options.end_date == 1_700_000_000
    assert options.state == ""  # stateful with an unknown previous state
    assert build_request(**DEFAULTS).options.state is None


@pytest.mark.parametrize("changes", [
    {"destination": None}, {"use_replica": True}, {"mailbox_guid": "xyz"},
    {"namespaces": ("a",), "all_namespaces": True}, {"start_date": "soon"},
    {"state": "not-a-state"},
])
def test_bad_flags_are_usage_errors(changes: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        build_request(**{**DEFAULTS, **changes})
