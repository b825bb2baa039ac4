"""A one-way copy through the Storage protocol only (what the engine does, minus planning), so
the storage tests exercise save / set_uid_state / commit as a caller would."""

from __future__ import annotations

import functools

from dmf.mail.storage import Body, Storage


def copy_all(source: Storage, destination: Storage, *, link: bool = False) -> None:
    """Copy every mailbox with its GUID, UIDVALIDITY, UIDs, flags, dates and subscriptions."""
    existing = {meta.name: meta for meta in destination.list_mailboxes()}
    for meta in source.list_mailboxes():
        if meta.name in existing and (existing[meta.name].guid == meta.guid
                                      or existing[meta.name].uidnext > 1):
            target = destination.mailbox(meta.name)
        else:
            target = destination.create_mailbox(meta.name, guid=meta.guid,
                                                 uidvalidity=meta.uidvalidity)
        box = source.mailbox(meta.name)
        for message in box.messages():
            path = box.body_path(message.uid)
            target.save(message, Body(open=functools.partial(open, path, "rb"),
                                      path=path if link else None))
        target.set_uid_state(meta.uidvalidity, box.meta.uidnext)
        target.commit()
    destination.set_subscriptions(source.subscriptions())
