"""MaildirStorage: the Storage protocol over a Dovecot-compatible Maildir tree.

Listing reads only the first line of each dovecot-uidlist (cheap); a mailbox without one is
numbered and given a GUID at first sight and the uidlist is written, so GUIDs and UIDs stay
the same on every later run. Mailbox deletion renames the directory out of sight first, so a
crash never leaves half a mailbox visible.
"""

from __future__ import annotations

import os
import time
from _thread import allocate_lock  # threading's Lock without threading's import (1 ms)
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from dmf.errors import NotFoundError, NotPossibleError, Scope
from dmf.mail.durability import Durability
from dmf.mail.maildir import subscriptions, uidlist
from dmf.mail.maildir.atomic import os_error, replace, temp_for, write_new
from dmf.mail.maildir.layout import INBOX, MaildirLayout
from dmf.mail.maildir.lock import clear_dead_locks, dotlock, user_lock
from dmf.mail.maildir.mailbox import (
    KEYWORDS_NAME,
    UIDLIST_NAME,
    MaildirMailbox,
    create_maildir,
    new_guid,
)
from dmf.mail.maildir.ownership import Owner, make_dirs
from dmf.mail.model import HIERARCHY_SEPARATOR, MailboxMeta
from dmf.mail.paths import exists, is_dir
from dmf.mail.storage import Capability

SUBSCRIPTIONS_NAME = "subscriptions"
USER_LOCK_NAME = "dmf.lock"
_uidvalidity_lock = allocate_lock()
_last_uidvalidity = 0


class MaildirStorage:
    capabilities = frozenset({Capability.SETTABLE_UIDS, Capability.MESSAGE_GUIDS,
                              Capability.MAILBOX_GUIDS, Capability.HARDLINKS,
                              Capability.SUBSCRIPTIONS, Capability.LOCKING,
                              Capability.SUMMARIES, Capability.FORK_SAFE,
                              Capability.STAGED_BODIES})

    def __init__(self, layout: MaildirLayout, owner: Owner | None = None,
                 durability: Durability = Durability.OPTIMIZED) -> None:
        self.layout = layout
        self.owner = owner
        self.durability = durability
        self.separator = layout.separator
        self._open: dict[str, MaildirMailbox] = {}
        self._unsettled: set[str] = set()  # directories whose last changes await close()
        self._raw_dirs: dict[str, str] = {}  # names listed from dirs that are not mUTF-7
        # inside creating(): uidlists of new mailboxes written, awaiting one sync and rename
        self._creations: list[tuple[str, str]] | None = None

    # ------------------------------------------------------------------ helpers

    def new_uidvalidity(self) -> int:
        """Time-based and strictly increasing within this process, as Dovecot's are."""
        global _last_uidvalidity
        with _uidvalidity_lock:
            _last_uidvalidity = max(int(time.time()), _last_uidvalidity + 1)
            return _last_uidvalidity

    def settle_later(self, directory: str) -> None:
        """A change in `directory` that must be durable by close(), not at once: a run's
        commits then share one syncfs instead of an fsync each."""
        self._unsettled.add(directory)

    def forget(self, name: str, mailbox: MaildirMailbox) -> None:
        if self._open.get(name) is mailbox:
            del self._open[name]

    def _dirs(self, name: str) -> tuple[str, str, str]:
        if name in self._raw_dirs:
            mail_dir = self._raw_dirs[name]
            relative = os.path.relpath(mail_dir, self.layout.root)
            return name, mail_dir, os.path.join(self.layout.control_root, relative)
        name = self.layout.canonical(name)
        return name, self.layout.mail_dir(name), self.layout.control_dir(name)

    # ------------------------------------------------------------------ mailboxes

    def list_mailboxes(self) -> list[MailboxMeta]:
        """Every mailbox's metadata; also removes dotlocks a killed process left (see
        `clear_dead_locks`), since a later run may skip the mailbox they sit in."""
        clear_dead_locks(self.layout.control_root, (SUBSCRIPTIONS_NAME,))
        result = []
        for name, mail_dir in self.layout.list_dirs():
            try:
                self.layout.canonical(name)
                if self.layout.mail_dir(name) != mail_dir:
                    self._raw_dirs[name] = mail_dir
            except NotPossibleError:
                self._raw_dirs[name] = mail_dir
            result.append(self._listed_meta(name))
        return result

    def _listed_meta(self, name: str) -> MailboxMeta:
        _, _, control_dir = self._dirs(name)
        clear_dead_locks(control_dir, (UIDLIST_NAME, KEYWORDS_NAME))
        if name in self._open:
            return self._open[name].meta
        path = os.path.join(control_dir, UIDLIST_NAME)
        try:
            header = uidlist.read_header(path)
            if header.guid is not None:
                return MailboxMeta(name, header.guid, header.uidvalidity, header.nextuid)
        except FileNotFoundError:
            pass
        return self.mailbox(name).meta

    def mailbox(self, name: str) -> MaildirMailbox:
        name, mail_dir, control_dir = self._dirs(name)
        if name in self._open:
            return self._open[name]
        if not is_dir(mail_dir):
            raise NotFoundError(f"mailbox {name} does not exist", scope=Scope.MAILBOX)
        box = MaildirMailbox(self, name, mail_dir, control_dir)
        self._open[name] = box
        return box

    def create_mailbox(self, name: str, guid: str | None = None,
                       uidvalidity: int | None = None) -> MaildirMailbox:
        name, mail_dir, control_dir = self._dirs(name)
        if exists(os.path.join(control_dir, UIDLIST_NAME)) and not self._never_used(name):
            raise NotPossibleError(f"mailbox {name} already exists", scope=Scope.MAILBOX)
        # a mailbox that exists but never held a message (a fresh INBOX) adopts the GUID and
        # UIDVALIDITY given, so a backup's INBOX gets the source's
        if name in self._open:
            self._open[name].close()
        try:
            create_maildir(mail_dir, control_dir, self.owner,
                           folder_marker=name != INBOX and not self.layout.fs_layout)
            header = uidlist.UidList(uidvalidity or self.new_uidvalidity(), 1,
                                     guid or new_guid())
            path = os.path.join(control_dir, UIDLIST_NAME)
            if self._creations is None:
                replace(path, uidlist.encode(header), self.owner, self.durability,
                        sync_directory=False)
            else:
                write_new(temp_for(path), uidlist.encode(header), self.owner, Durability.NEVER)
                self._creations.append((temp_for(path), path))
        except OSError as exc:
            raise os_error(exc, mail_dir) from None
        self._unsettled.update((control_dir, os.path.dirname(mail_dir)))
        return self.mailbox(name)

    @contextmanager
    def creating(self) -> Iterator[None]:
        """Mailboxes created inside get their dovecot-uidlist as it ends, all of them made
        durable by one sync before their renames instead of an fsync each: a first backup
        creates its folders before any copying, and 12 fsyncs took 5-6 ms of it (an A/B of
        2,000 messages, 13 noisy rounds: 1.10x the time without). Nothing may read them
        before."""
        if self._creations is not None:  # nested: the outer one finishes them
            yield
            return
        self._creations = []
        try:
            yield
        finally:
            creations, self._creations = self._creations, None
            if creations:
                self._sync_each_filesystem((temp for temp, _ in creations), files=True)
                for temp, path in creations:
                    try:
                        os.rename(temp, path)
                    except OSError as exc:
                        raise os_error(exc, path) from None

    def _never_used(self, name: str) -> bool:
        box = self.mailbox(name)
        return box.meta.uidnext == 1 and next(box.messages(), None) is None

    def _family(self, name: str) -> list[tuple[str, str]]:
        """(mail dir, control dir) pairs that move with a Maildir++ mailbox: it and children."""
        _, mail_dir, control_dir = self._dirs(name)
        pairs = [(mail_dir, control_dir)]
        if not self.layout.fs_layout:
            prefix = os.path.basename(mail_dir) + "."
            for entry in os.scandir(self.layout.root):
                if entry.name.startswith(prefix) and entry.is_dir():
                    relative = entry.name
                    pairs.append((entry.path, os.path.join(self.layout.control_root, relative)))
        return pairs

    def rename_mailbox(self, old: str, new: str) -> None:
        old, old_dir, _ = self._dirs(old)
        new, new_dir, _ = self._dirs(new)
        if INBOX in (old, new):
            raise NotPossibleError("renaming INBOX is not supported", scope=Scope.MAILBOX)
        if not is_dir(old_dir):
            raise NotFoundError(f"mailbox {old} does not exist", scope=Scope.MAILBOX)
        if exists(new_dir):
            raise NotPossibleError(f"mailbox {new} already exists", scope=Scope.MAILBOX)
        for name in list(self._open):
            if name == old or name.startswith(old + HIERARCHY_SEPARATOR):
                self._open[name].close()
        try:
            old_name, new_name = os.path.basename(old_dir), os.path.basename(new_dir)
            for mail_dir, control_dir in self._family(old):
                target = new_dir if self.layout.fs_layout else os.path.join(
                    self.layout.root, new_name + os.path.basename(mail_dir)[len(old_name):])
                make_dirs(os.path.dirname(target), self.owner)
                os.rename(mail_dir, target)
                if self.layout.control is not None and exists(control_dir):
                    control_target = os.path.join(self.layout.control_root,
                                                  os.path.relpath(target, self.layout.root))
                    make_dirs(os.path.dirname(control_target), self.owner)
                    os.rename(control_dir, control_target)
        except OSError as exc:
            raise os_error(exc, old_dir) from None

    def delete_mailbox(self, name: str) -> None:
        name, mail_dir, control_dir = self._dirs(name)
        if name == INBOX:
            raise NotPossibleError("INBOX cannot be deleted", scope=Scope.MAILBOX)
        if not is_dir(mail_dir):
            raise NotFoundError(f"mailbox {name} does not exist", scope=Scope.MAILBOX)
        if name in self._open:
            self._open[name].close()
        import shutil  # here: its compression modules cost start-up that only deletions need

        try:
            has_children = self.layout.fs_layout and any(
                entry.is_dir() and entry.name not in ("cur", "new", "tmp")
                for entry in os.scandir(mail_dir))
            if has_children:  # fs layout: keep the children, drop this mailbox's mail
                for child in ("cur", "new", "tmp"):
                    shutil.rmtree(os.path.join(mail_dir, child), ignore_errors=True)
                for entry in os.scandir(control_dir):
                    if entry.name.startswith("dovecot") and entry.is_file():
                        os.unlink(entry.path)
                return
            for directory in {mail_dir, control_dir}:
                if exists(directory):
                    hidden = os.path.join(os.path.dirname(directory), f"..dmf-deleted"
                                          f".{os.getpid()}.{os.path.basename(directory)}")
                    os.rename(directory, hidden)
                    shutil.rmtree(hidden)
        except OSError as exc:
            raise os_error(exc, mail_dir) from None

    # ------------------------------------------------------------------ subscriptions, lock

    def subscriptions(self) -> frozenset[str]:
        try:
            with open(os.path.join(self.layout.control_root, SUBSCRIPTIONS_NAME), "rb") as handle:
                content = handle.read()
        except FileNotFoundError:
            return frozenset()
        return subscriptions.parse(content, self.separator)

    def set_subscriptions(self, names: Iterable[str]) -> None:
        canonical = {self.layout.canonical(name) for name in names}
        path = os.path.join(self.layout.control_root, SUBSCRIPTIONS_NAME)
        with dotlock(path, self.owner):
            replace(path, subscriptions.encode(canonical), self.owner, self.durability)

    @contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        with user_lock(os.path.join(self.layout.control_root, USER_LOCK_NAME), self.owner,
                       timeout):
            yield

    def close(self) -> None:
        """Drops uncommitted batches, waits for the commits still finishing in the background
        and makes every commit durable (see settle_later); then raises the first error a
        commit met."""
        failed: BaseException | None = None
        for box in list(self._open.values()):
            try:
                box.close()
            except BaseException as exc:  # noqa: BLE001 - the others still close, then raise
                failed = failed or exc
        unsettled, self._unsettled = self._unsettled, set()
        self._sync_each_filesystem(unsettled)
        if failed is not None:
            raise failed

    def _sync_each_filesystem(self, paths: Iterable[str], *, files: bool = False) -> None:
        """Make `paths` (directories, or `files`) durable: one sync per filesystem they are on
        (:CONTROL= may be on another one than the mail); a path gone since has nothing left
        to sync."""
        by_filesystem: dict[int, list[str]] = {}
        for path in paths:
            try:
                device = os.stat(path).st_dev
            except FileNotFoundError:
                continue
            by_filesystem.setdefault(device, []).append(path)
        for group in by_filesystem.values():
            try:
                self.durability.many(os.path.dirname(group[0]) if files else group[0], group)
            except OSError as exc:
                raise os_error(exc, group[0]) from None
