"""Reads a migration command's output line by line (seed 3.1): errors for the job details, saved
and expunged counts per mailbox, duplicate UIDs, storage timeouts.

What is parsed:
- dmf's structured event line, written by `dmf backup -v` (and sync):
  `dsync(<user>): Info: dmf-event {"mailbox": "INBOX", "saved": 3, "expunged": 0,
  "flag_changes": 0, "bytes": 1234, "errors": []}`: saved and expunged are added per mailbox,
  its `errors` join the error list. Several lines for one mailbox add up.
- Dovecot's doveadm, best effort: with `-D`, `Import mailbox <name>: Saved UIDs: <uid set>`
  counts the UIDs of the set as saved (Dovecot logs no per-mailbox expunge count, so expunges
  are only known from dmf).
- A line whose level is `Error`, `Fatal` or `Panic` (`dsync(user1): Error: ...`, a prefix without
  spaces being optional): the text after the level is an error. Repeated identical errors are
  kept once.
- `Expunged message reappeared in session (uid=N ...)` (Dovecot's imapc storage, seed 3.2): a
  duplicate UID; the mailbox is taken from `Mailbox '<name>'`, the UID from `uid=N`.
- `failed: PUT ... failed: Absolute request timeout expired`: a parallel write timeout (seed
  3.7), which is also a storage timeout; so are error lines saying `timed out` / `Timeout`.
"""

from __future__ import annotations

import json
import re

from dmf.worker.retry import AttemptSignals

_EVENT = re.compile(r"^\S*\(.*\): Info: dmf-event (\{.*\})\s*$")
_LEVEL = re.compile(r"^(?:\S+: )?(Error|Fatal|Panic): (.*)$")
_DOVECOT_SAVED = re.compile(r"Import mailbox (.+?): Saved UIDs: ([0-9:,]+)")
_REAPPEARED = "Expunged message reappeared in session"
_REAPPEARED_MAILBOX = re.compile(r"Mailbox '(.*?)'")
_REAPPEARED_UID = re.compile(r"\buid=(\d+)")
_PARALLEL_WRITE = re.compile(r"failed: PUT .+ failed: Absolute request timeout expired")
_TIMEOUT = re.compile(r"(?i)\btimed out\b|\btimeout\b")


def uid_set_size(uid_set: str) -> int:
    """Number of UIDs in an IMAP sequence set such as `1:3,7`."""
    total = 0
    for part in filter(None, uid_set.split(",")):
        low, _, high = part.partition(":")
        total += abs(int(high) - int(low)) + 1 if high else 1
    return total


class LogAnalyzer:
    """Feed it every output line of one attempt; read the results afterwards."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.saved: dict[str, int] = {}
        self.expunged: dict[str, int] = {}
        self.invalid: dict[str, list[str]] = {}
        self.parallel_write_timeout = False
        self.storage_timeout = False

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        event = _EVENT.match(line)
        if event is not None:
            self._event(event[1])
            return
        saved = _DOVECOT_SAVED.search(line)
        if saved is not None:
            self._add(self.saved, saved[1], uid_set_size(saved[2]))
        if _REAPPEARED in line:
            self._duplicate(line)
        if _PARALLEL_WRITE.search(line):
            self.parallel_write_timeout = self.storage_timeout = True
        level = _LEVEL.match(line)
        if level is not None:
            self._error(level[2])
            if _TIMEOUT.search(level[2]):
                self.storage_timeout = True

    @property
    def signals(self) -> AttemptSignals:
        return AttemptSignals(parallel_write_timeout=self.parallel_write_timeout,
                              storage_timeout=self.storage_timeout)

    def _event(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            self._error(f"unreadable dmf-event line: {payload[:200]}")
            return
        if not isinstance(event, dict) or not isinstance(event.get("mailbox"), str):
            self._error(f"dmf-event without a mailbox: {payload[:200]}")
            return
        mailbox = event["mailbox"]
        for key, counts in (("saved", self.saved), ("expunged", self.expunged)):
            number = event.get(key, 0)
            if isinstance(number, int) and number:
                self._add(counts, mailbox, number)
        for error in event.get("errors") or []:
            self._error(str(error))

    def _duplicate(self, line: str) -> None:
        mailbox = _REAPPEARED_MAILBOX.search(line)
        uid = _REAPPEARED_UID.search(line)
        if uid is None:
            return
        uids = self.invalid.setdefault(mailbox[1] if mailbox else "", [])
        if uid[1] not in uids:
            uids.append(uid[1])

    def _error(self, text: str) -> None:
        if text not in self.errors:
            self.errors.append(text)

    @staticmethod
    def _add(counts: dict[str, int], mailbox: str, number: int) -> None:
        counts[mailbox] = counts.get(mailbox, 0) + number
