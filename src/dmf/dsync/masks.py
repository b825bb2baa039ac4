"""Which mailboxes a run covers: `-m`, `-g` and `-x` (masks with `*` and `?`).

`*` matches any run of characters including the hierarchy separator and `?` one character, as
doveadm's exclude masks do. A mailbox outside the selection is never touched on either side.
"""

import re
from typing import NamedTuple

from dmf.dsync.options import SyncOptions


def mask_pattern(mask: str) -> re.Pattern[str]:
    """A compiled pattern matching the whole name against a `*`/`?` mask."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in mask)
    return re.compile("".join(parts), re.DOTALL)


class MailboxSelection(NamedTuple):
    """The `-m` / `-g` / `-x` filter of one run, applied by name and GUID."""

    name: str | None = None
    guid: str | None = None
    excludes: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_options(cls, options: SyncOptions) -> "MailboxSelection":
        return cls(name=options.mailbox, guid=options.mailbox_guid.lower()
                   if options.mailbox_guid else None,
                   excludes=tuple(mask_pattern(mask) for mask in options.excludes))

    def covers(self, name: str, guid: str | None = None) -> bool:
        if self.name is not None and name != self.name:
            return False
        if self.guid is not None and (guid or "").lower() != self.guid:
            return False
        return not any(pattern.fullmatch(name) for pattern in self.excludes)

    def covers_name(self, name: str) -> bool:
        """For subscriptions, which name mailboxes that may not exist: -g cannot apply."""
        if self.name is not None and name != self.name:
            return False
        return not any(pattern.fullmatch(name) for pattern in self.excludes)
