"""The -v / -D lines of a backup, including the event line the worker's analyzer parses."""

from __future__ import annotations

import io
import json

from dmf.cli.progress import CliReporter, event_line
from dmf.dsync.options import MailboxResult, SyncResult

PREFIX = "dsync(alice): Info: dmf-event "


def test_event_line_is_prefix_and_compact_json() -> None:
    result = MailboxResult(name="Archive/2024", saved=3, expunged=1, flag_changes=2,
                           bytes_saved=1234, errors=["one"])
    line = event_line("alice", result, "Archive.2024")
    assert line.startswith(PREFIX)
    body = line[len(PREFIX):]
    payload = json.loads(body)
    assert body == json.dumps(payload)  # default separators, one line
    assert payload == {"mailbox": "Archive.2024", "saved": 3, "expunged": 1,
                       "flag_changes": 2, "bytes": 1234, "errors": ["one"],
                       "created": False, "deleted": False}


def test_reporter_levels() -> None:
    quiet, verbose, debug = io.StringIO(), io.StringIO(), io.StringIO()
    result = MailboxResult(name="A/B", saved=1, bytes_saved=10)
    for stream, flags in ((quiet, {}), (verbose, {"verbose": True}), (debug, {"debug": True})):
        reporter = CliReporter("alice", separator=".", stream=stream,
                               **{"verbose": False, "debug": False, **flags})
        reporter.mailbox_started("A/B", 1)
        reporter.message_saved("A/B", 10)
        reporter.mailbox_done(result)
        reporter.finish(SyncResult(mailboxes=[result], seconds=0.5))
    assert quiet.getvalue() == ""
    lines = verbose.getvalue().splitlines()
    assert lines[0].startswith("dsync(alice): Info: Mailbox A.B: saved 1")
    assert lines[1].startswith(PREFIX)
    assert lines[2] == ("dsync(alice): Info: Done: 1 mailboxes, 1 messages saved, 0 expunged, "
                        "10 bytes, 0.50 seconds")
    debug_lines = debug.getvalue().splitlines()
    assert debug_lines[0] == "dsync(alice): Debug: Mailbox A.B: 1 messages to save"
    assert any(line.startswith(PREFIX) for line in debug_lines)
    assert not any("Done:" in line for line in debug_lines)  # the summary is -v only
