"""A wrapper store (as isync's drv_proxy) that adds Capability.SUMMARIES to a real store and
counts the message listings the engine asks for, so fast mode's decisions can be observed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from typing import Any

from dmf.mail.storage import Capability, Mailbox, Storage


class SummarizingMailbox:
    def __init__(self, inner: Mailbox, listings: Counter[str]) -> None:
        self._inner = inner
        self._listings = listings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def messages(self, since_modseq: int = 0):  # noqa: ANN201 - as the wrapped store's
        self._listings[self._inner.meta.name] += 1
        return self._inner.messages(since_modseq)

    def summary(self) -> Hashable:
        flags = Counter((m.flags, m.keywords) for m in self._inner.messages())
        return len(flags), frozenset(flags.items())


class SummarizingStorage:
    def __init__(self, inner: Storage) -> None:
        self._inner = inner
        self.capabilities = inner.capabilities | {Capability.SUMMARIES}
        self.listings: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def mailbox(self, name: str) -> SummarizingMailbox:
        return SummarizingMailbox(self._inner.mailbox(name), self.listings)

    def create_mailbox(self, name: str, guid: str | None = None,
                       uidvalidity: int | None = None) -> SummarizingMailbox:
        return SummarizingMailbox(self._inner.create_mailbox(name, guid, uidvalidity),
                                  self.listings)
