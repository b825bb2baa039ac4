"""One Maildir mailbox: its messages from one scan of new/ and cur/ plus one uidlist parse, and
batched writes that become durable together at commit().

Commit order, so that a crash never leaves a dovecot-uidlist entry for a file that is not on
disk and a re-run never duplicates: bodies are already written, in unnamed files held open or in
tmp/ as `dmf.<final name>` (bodies.py). Under dovecot-uidlist.lock the new uidlist (and
dovecot-keywords when new keywords came) is written to a temp file; one syncfs flushes the
bodies and those files together; the uidlist temp is renamed to `dovecot-uidlist.dmf-pending`
(and the keywords into place) and the control directory fsynced; bodies are linked or renamed
into new/ or cur/, flag renames and unlinks are done, the directories they changed fsynced; then
the pending file is renamed over dovecot-uidlist and the lock released. Everything from the
syncfs on is the commit's tail; a commit that need not wait runs it in a thread of its own
(`background.py`) while the caller goes on, and the mailbox's next use or close waits for it
(and raises what it met). That last rename is made durable when the store closes (one syncfs
for every commit of the run; a crash before that may leave the pending file, which is finished
as below). If a run dies in between, the next scan finds the pending file and finishes the
commit: what reached new/ or cur/ or is still in tmp/ keeps the UID it was given; an unnamed
body died with the process, so its record is dropped and a re-run saves the message again. Our
own leftovers in tmp/ (`dmf.*` of a dead process) are removed at that scan.

A concurrent Dovecot is respected: its dotlock is taken for every uidlist write, and if the
uidlist changed since we read it (inode, size, mtime), its new records and expunges win and our
auto-numbered new messages move above its UIDs (a UID the caller asked for that Dovecot gave
out meanwhile is a TemporaryError).

A message file with no uidlist entry gets the next UID and the uidlist is written back, as
Dovecot does; a missing cur/ or new/ is recreated, as Dovecot does. \\Recent follows what
`doveadm mailbox status recent` reports for a tree without Dovecot index files: the messages
above the highest UID that sits in cur/ and was already in the uidlist.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import time
from collections.abc import Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from dmf.errors import (
    NotFoundError,
    NotPossibleError,
    PermissionDeniedError,
    Scope,
    TemporaryError,
)
from dmf.mail.background import Background
from dmf.mail.durability import Durability
from dmf.mail.maildir import bodies, filenames, keywords, scan, summary_cache, uidlist
from dmf.mail.maildir.atomic import discard, os_error, replace, temp_for, write_new
from dmf.mail.maildir.lock import dotlock
from dmf.mail.maildir.ownership import Owner, effective, give, make_dirs
from dmf.mail.maildir.scan import MessageFile
from dmf.mail.maildir.uidlist import UidList, UidRecord
from dmf.mail.model import MailboxChange, MailboxMeta, MessageMeta
from dmf.mail.paths import exists, is_dir
from dmf.mail.storage import Body, StagedBody

if TYPE_CHECKING:
    from dmf.mail.maildir.store import MaildirStorage

UIDLIST_NAME = "dovecot-uidlist"
PENDING_NAME = "dovecot-uidlist.dmf-pending"
KEYWORDS_NAME = "dovecot-keywords"


class _Batch:
    """The changes of one mailbox waiting for its next commit."""

    __slots__ = ("saves", "unnamed", "auto_uids", "renames", "expunged", "uid_state",
                 "keywords")

    def __init__(self) -> None:
        self.saves: dict[int, MessageFile] = {}  # uid -> place after commit
        # uid -> fd of its unnamed body; saves not in it wait in tmp/ as dmf.<their name>
        self.unnamed: dict[int, int] = {}
        self.auto_uids: set[int] = set()  # saves whose UID we chose, not the caller
        self.renames: dict[int, str] = {}  # uid -> new filename, same subdir
        self.expunged: dict[int, MessageFile] = {}
        self.uid_state = False
        self.keywords = False

    def __bool__(self) -> bool:
        return bool(self.saves or self.renames or self.expunged or self.uid_state
                    or self.keywords)


def _planned_base(meta: MessageMeta) -> str | None:
    """A new file's base name when the metadata tells its size and vsize (else the name waits
    for the size the body really has)."""
    if meta.size > 0 and meta.vsize is not None:
        return filenames.new_base(meta.size, meta.vsize)
    return None


def new_guid() -> str:
    return os.urandom(16).hex()


def _stamp(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_ino, status.st_size, status.st_mtime_ns


class MaildirMailbox:
    """A mailbox of a MaildirStorage; see the module docstring for the on-disk protocol."""

    def __init__(self, storage: MaildirStorage, name: str, mail_dir: str,
                 control_dir: str) -> None:
        self._storage = storage
        self._name = name
        self.mail_dir = mail_dir
        self.control_dir = control_dir
        self._tmp = os.path.join(mail_dir, "tmp", filenames.TMP_PREFIX)  # + name: a saved body
        self._owner = storage.owner
        self._durability = storage.durability
        self._uidlist: UidList | None = None
        self._files: dict[int, MessageFile] = {}
        self._unlisted: set[int] = set()  # UIDs given at the scan to files not in the uidlist
        self._keywords: dict[int, str] | None = None
        # (flags, keywords) -> filename letters, for saves: a mailbox's messages share few
        # combinations, and working them out (sets, a sort, a join) cost every save ~2.5 us
        self._letters: dict[tuple[frozenset[str], frozenset[str]], str] = {}
        self._stamp: tuple[int, int, int] | None = None  # the uidlist as we last saw it
        self._batch = _Batch()
        self._tail: Background | None = None  # the last commit's, while it may still run

    # ------------------------------------------------------------------ reading

    @property
    def meta(self) -> MailboxMeta:
        current = self._load()
        return MailboxMeta(self._name, current.guid, current.uidvalidity, current.nextuid)

    def messages(self, since_modseq: int = 0) -> Iterator[MessageMeta]:
        current = self._load()
        names = self._keyword_names()
        flag_cache: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        records = current.records
        files = self._files
        saves = self._batch.saves
        for uid in sorted(files):
            found = files[uid]
            base, _, info = found.name.partition(":")
            letters = info[2:] if info[:2] == "2," else ""
            flag_sets = flag_cache.get(letters)
            if flag_sets is None:
                flag_sets = flag_cache[letters] = filenames.flag_sets(letters, names)
            try:
                status = os.stat(self._path(uid, verify=False) if uid in saves
                                 else f"{self.mail_dir}/{found.subdir}/{found.name}")
            except FileNotFoundError:
                status = self._refind(found)
            size, vsize = filenames.sizes(base) if "," in base else (None, None)
            fields = records[uid].fields
            if not fields:
                yield MessageMeta(uid, base, flag_sets[0], flag_sets[1], int(status.st_mtime),
                                  status.st_size if size is None else size, vsize)
                continue
            if size is None:
                size = int(fields["S"]) if fields.get("S", "").isdigit() else status.st_size
            if vsize is None and fields.get("W", "").isdigit():
                vsize = int(fields["W"])
            order = fields.get("O", "")
            yield MessageMeta(uid, fields.get("G") or base, flag_sets[0], flag_sets[1],
                              int(status.st_mtime), size, vsize, 0, fields.get("P"),
                              int(order) if order.isdigit() else None)

    def keyword_order(self) -> tuple[str, ...]:
        """The mailbox's keywords in the order Dovecot's index would hold them after its first
        sync of this Maildir: by first appearance, messages in UID order and letters in
        filename order (checked with doveadm fetch; not dovecot-keywords' index order, and not
        alphabetical). `doveadm fetch flags` prints keywords in this order."""
        self._load()
        names = self._keyword_names()
        order: dict[str, None] = {}
        for uid in sorted(self._files):
            info = self._files[uid].name.partition(":")[2]
            for char in info[2:] if info[:2] == "2," else "":
                name = names.get(ord(char) - 97) if "a" <= char <= "z" else None
                if name is not None:
                    order.setdefault(name)
        return tuple(order)

    def summary(self) -> Hashable:
        """(message count, digest of every UID, GUID, flags and keywords): one uidlist parse and
        one listing of new/ and cur/, no stat, or a few stat() calls when remembered (see
        summary_cache). Keyword letters are turned into names, so two trees with different
        dovecot-keywords orders but the same messages agree."""
        self._join()
        if self._uidlist is not None or self._batch:
            return self._summary()
        cached = summary_cache.read(self.mail_dir, self.control_dir)
        if cached is not None:
            return cached
        taken = summary_cache.stamps(self.mail_dir, self.control_dir)
        started_ns = time.time_ns()
        computed = self._summary()
        summary_cache.write(self.control_dir, taken, started_ns, computed, self._owner)
        return computed

    def _summary(self) -> tuple[int, str]:
        # imported here: hashlib loads OpenSSL (3 ms of start-up), and only summaries and
        # read-only sources need it, never a first backup
        import hashlib

        current = self._load()
        names = self._keyword_names()
        flag_text: dict[str, str] = {}
        digest = hashlib.blake2b(digest_size=16)
        records = current.records
        for uid in sorted(self._files):
            base, _, info = self._files[uid].name.partition(":")
            letters = info[2:] if info[:2] == "2," else ""
            text = flag_text.get(letters)
            if text is None:
                flags, keyword_set = filenames.flag_sets(letters, names)
                text = flag_text[letters] = " ".join(sorted(flags)) + "|" + " ".join(
                    sorted(keyword_set))
            guid = records[uid].fields.get("G") or base
            digest.update(f"{uid} {guid} {text}\n".encode("utf-8", "surrogateescape"))
        return len(self._files), digest.hexdigest()

    def _refind(self, found: MessageFile) -> os.stat_result:
        """The file was renamed (a flag change by another client) since the scan."""
        base = filenames.split(found.name)[0]
        for subdir in ("cur", "new"):
            for entry in os.scandir(os.path.join(self.mail_dir, subdir)):
                if filenames.split(entry.name)[0] == base:
                    found.subdir, found.name = subdir, entry.name
                    return entry.stat()
        raise NotFoundError(f"message file {base} vanished from {self.mail_dir}",
                            scope=Scope.MESSAGE)

    def _path(self, uid: int, *, verify: bool = True) -> str:
        """The message's file; `verify` looks it up again when a flag change by another
        client renamed it since the scan (callers that open it anyway skip that stat)."""
        self._load()
        found = self._files.get(uid)
        if found is None:
            raise NotFoundError(f"no message with UID {uid} in mailbox {self._name}",
                                scope=Scope.MESSAGE)
        if uid in self._batch.saves:
            fd = self._batch.unnamed.get(uid)
            return self._tmp + found.name if fd is None else bodies.reader_path(fd)
        path = f"{self.mail_dir}/{found.subdir}/{found.name}"
        if verify and not os.path.exists(path):
            self._refind(found)
            path = f"{self.mail_dir}/{found.subdir}/{found.name}"
        return path

    def open_body(self, uid: int) -> BinaryIO:
        # unbuffered: a save hands the descriptor to sendfile, and a buffered reader's
        # set-up costs as much again as the open itself (17 against 9 us a file)
        try:
            return open(self._path(uid, verify=False), "rb", buffering=0)
        except FileNotFoundError:
            return open(self._path(uid), "rb", buffering=0)

    def body_path(self, uid: int) -> str | None:
        return self._path(uid)

    def recent_count(self) -> int:
        self._load()
        old_in_cur = [uid for uid, found in self._files.items()
                      if found.subdir == "cur" and uid not in self._unlisted]
        floor = max(old_in_cur, default=0)
        return sum(1 for uid in self._files if uid > floor)

    # ------------------------------------------------------------------ loading

    def _keyword_names(self) -> dict[int, str]:
        if self._keywords is None:
            try:
                with open(os.path.join(self.control_dir, KEYWORDS_NAME), "rb") as handle:
                    self._keywords = keywords.parse(handle.read())
            except FileNotFoundError:
                self._keywords = {}
        return self._keywords

    def _read_uidlist(self) -> tuple[UidList | None, bool]:
        path = os.path.join(self.control_dir, UIDLIST_NAME)
        try:
            with open(path, "rb") as handle:
                self._stamp = _stamp(os.fstat(handle.fileno()))
                content = handle.read()
        except FileNotFoundError:
            self._stamp = None
            return None, False
        return uidlist.parse(content, path)

    def _uidlist_changed(self) -> bool:
        """Has someone else rewritten dovecot-uidlist since we last read or wrote it?"""
        try:
            return _stamp(os.stat(os.path.join(self.control_dir, UIDLIST_NAME))) != self._stamp
        except FileNotFoundError:
            return self._stamp is not None

    def _load(self) -> UidList:
        if self._tail is not None:
            self._join()
        if self._uidlist is None:
            if not is_dir(self.mail_dir):
                raise NotFoundError(f"mailbox {self._name} does not exist ({self.mail_dir})",
                                    scope=Scope.MAILBOX)
            self._scan()
        assert self._uidlist is not None
        return self._uidlist

    def _scan(self) -> None:
        current, had_guid = self._read_uidlist()
        pending_path = os.path.join(self.control_dir, PENDING_NAME)
        found = scan.match(self.mail_dir, current, self._owner)
        if found.changed or current is None or not had_guid or exists(pending_path) \
                or scan.stale_tmp_files(self.mail_dir):
            try:
                with dotlock(os.path.join(self.control_dir, UIDLIST_NAME), self._owner):
                    current, had_guid = self._read_uidlist()
                    if exists(pending_path):
                        current = scan.recover_pending(self.mail_dir, pending_path, current,
                                                       self._durability)
                    for path in scan.stale_tmp_files(self.mail_dir):
                        discard(path)
                    found = scan.match(self.mail_dir, current, self._owner)
                    current = self._rebuilt(current, found)
                    replace(os.path.join(self.control_dir, UIDLIST_NAME), uidlist.encode(current),
                            self._owner, self._durability)
                    self._stamp = _stamp(os.stat(os.path.join(self.control_dir, UIDLIST_NAME)))
            except (PermissionDeniedError, PermissionError, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno not in (errno.EROFS, errno.EACCES,
                                                                  errno.EPERM):
                    raise
                # a read-only source: numbered in memory only (what Dovecot would also do)
                current = self._rebuilt(current, found, persisted=False)
        assert current is not None
        self._uidlist = current
        self._files = found.files
        self._unlisted = set(found.unlisted)

    def _rebuilt(self, current: UidList | None, found: scan.Match,
                 persisted: bool = True) -> UidList:
        """The uidlist for what the scan found: records of vanished files dropped, new files
        added, a UIDVALIDITY and GUID made up for a mailbox that had none - random and
        time-based when they will be written down, else derived from the directory (its path
        and mtime) so that a read-only source shows the same values on every run."""
        if persisted:
            guid, uidvalidity = new_guid(), self._storage.new_uidvalidity()
        else:
            import hashlib  # see _summary

            guid = hashlib.md5(os.fsencode(os.path.realpath(self.mail_dir)),
                               usedforsecurity=False).hexdigest()
            uidvalidity = max(1, int(os.stat(self.mail_dir).st_mtime) & 0xFFFFFFFF)
        if current is None:
            current = UidList(uidvalidity, 1, guid)
        if not current.guid:
            current.guid = guid
        records = {uid: record for uid, record in current.records.items() if uid in found.files}
        for uid in found.unlisted:
            records[uid] = UidRecord(uid, filenames.split(found.files[uid].name)[0])
        current.records = dict(sorted(records.items()))
        current.nextuid = max(current.nextuid, max(records, default=0) + 1)
        return current

    # ------------------------------------------------------------------ writing

    @functools.cached_property
    def _control_beside_bodies(self) -> bool:
        """Whether the control files (:CONTROL=) share the bodies' filesystem, and so their
        syncfs."""
        tmp = os.path.join(self.mail_dir, "tmp")
        return os.stat(self.control_dir).st_dev == os.stat(tmp).st_dev

    @functools.cached_property
    def _body_owner(self) -> Owner | None:
        """Whom new message files are given to, resolved once for the mailbox."""
        return effective(os.path.join(self.mail_dir, "tmp"), self._owner)

    def save(self, meta: MessageMeta, body: Body) -> int:
        uid, letters = self._claim(meta)
        # With size and vsize known the body goes straight to its final tmp name, saving a
        # rename per message; Dovecot trusts ,S= so a body of another size is renamed after.
        planned = _planned_base(meta)
        if planned is None:
            staging = f"{self._tmp}{filenames.new_base(0, None)}.partial"
        else:
            staging = self._tmp + (filenames.with_letters(planned, letters) if letters
                                   else planned)
        written = bodies.write_body(body, staging, meta.internal_date, meta.vsize,
                                    self._body_owner)
        return self._record(meta, uid, letters, planned, staging, written)

    def stage(self, meta: MessageMeta, body: Body) -> StagedBody | None:
        written = bodies.write_unnamed(body, os.path.dirname(self._tmp), meta.internal_date,
                                       meta.vsize, self._body_owner)
        if written is None:
            return None
        assert written.fd is not None  # write_unnamed's files are unnamed
        return StagedBody(written.fd, written.size, written.vsize)

    def drop_staged(self, staged: StagedBody) -> None:
        bodies.drop(staged.fd)

    def save_staged(self, meta: MessageMeta, staged: StagedBody) -> int:
        bodies.taken_over(staged.fd)
        try:
            uid, letters = self._claim(meta)
        except BaseException:
            bodies.drop(staged.fd)
            raise
        written = bodies.Written(staged.size, staged.vsize, staged.fd)
        return self._record(meta, uid, letters, _planned_base(meta), None, written)

    def _claim(self, meta: MessageMeta) -> tuple[int, str]:
        """The UID a save gets and its flag letters (new keywords get theirs here)."""
        current = self._load()
        if meta.uid > 0:
            if meta.uid in current.records:
                raise NotPossibleError(f"UID {meta.uid} already exists in mailbox "
                                       f"{self._name}", scope=Scope.MESSAGE)
            if meta.uid > uidlist.MAX_UID:
                raise NotPossibleError(f"UID {meta.uid} out of range", scope=Scope.MESSAGE)
            uid = meta.uid
        else:
            uid = current.nextuid
        key = (meta.flags, meta.keywords)
        letters = self._letters.get(key)
        if letters is None:  # the first message with these flags: new keywords get letters
            names = self._keyword_names()
            before = len(names)
            indexes = [keywords.assign(names, keyword) for keyword in sorted(meta.keywords)]
            self._batch.keywords |= len(names) != before
            letters = self._letters[key] = filenames.letters_for(meta.flags, indexes)
        return uid, letters

    def _record(self, meta: MessageMeta, uid: int, letters: str, planned: str | None,
                staging: str | None, written: bodies.Written) -> int:
        """A written body into the batch: its name (from the size it really has), its
        uidlist record, its place after the commit."""
        current = self._load()
        size, vsize = written.size, written.vsize
        if planned is not None and size == meta.size:
            base = planned
        else:  # metadata that got the size wrong is not trusted for the vsize either
            base = filenames.new_base(size, vsize if meta.size in (0, size) else None)
        if base == planned and staging is not None:
            name = staging[len(self._tmp):]  # the planned name, letters and all
        else:
            name = filenames.with_letters(base, letters) if letters else base
        if written.fd is not None:
            self._batch.unnamed[uid] = written.fd
        elif base != planned and staging is not None:
            os.rename(staging, self._tmp + name)
        fields: dict[str, str] = {}
        if meta.guid and meta.guid != base:
            fields["G"] = meta.guid
        if meta.pop3_uidl is not None:
            fields["P"] = meta.pop3_uidl
        if meta.pop3_order is not None:
            fields["O"] = str(meta.pop3_order)
        current.records[uid] = UidRecord(uid, base, fields)
        current.nextuid = max(current.nextuid, uid + 1)
        self._files[uid] = MessageFile("cur" if letters else "new", name)
        self._batch.saves[uid] = self._files[uid]
        if meta.uid <= 0:
            self._batch.auto_uids.add(uid)
        return uid

    def update_flags(self, changes: Iterable[MailboxChange]) -> None:
        self._load()
        names = self._keyword_names()
        for change in changes:
            found = self._files.get(change.uid)
            if found is None:
                raise NotFoundError(f"no message with UID {change.uid} in mailbox "
                                    f"{self._name}", scope=Scope.MESSAGE)
            before = len(names)
            indexes = [keywords.assign(names, keyword) for keyword in sorted(change.keywords)]
            self._batch.keywords |= len(names) != before
            old_letters = filenames.split(found.name)[1]
            letters = filenames.letters_for(change.flags, indexes, keep=old_letters)
            if letters == old_letters:
                continue
            new_name = filenames.with_letters(found.name, letters)
            if change.uid in self._batch.saves:
                if change.uid not in self._batch.unnamed:
                    os.rename(self._tmp + found.name, self._tmp + new_name)
                found.subdir = "cur" if letters else "new"
            else:
                self._batch.renames[change.uid] = new_name
            found.name = new_name

    def expunge(self, uids: Iterable[int]) -> None:
        current = self._load()
        for uid in uids:
            found = self._files.pop(uid, None)
            if found is None:
                continue
            current.records.pop(uid, None)
            self._batch.renames.pop(uid, None)
            if uid in self._batch.saves:
                _drop_body(self._batch, uid, self._tmp)
            else:
                self._batch.expunged[uid] = found

    def set_uid_state(self, uidvalidity: int, uidnext: int) -> None:
        current = self._load()
        highest = max(current.records, default=0)
        if uidnext <= highest or not 0 < uidvalidity <= 0xFFFFFFFF:
            raise NotPossibleError(f"mailbox {self._name}: cannot set UIDVALIDITY {uidvalidity} "
                                   f"UIDNEXT {uidnext} (highest UID is {highest})",
                                   scope=Scope.MAILBOX)
        if (current.uidvalidity, current.nextuid) == (uidvalidity, uidnext):
            return  # already so: no uidlist rewrite, with its five syncs, for nothing
        current.uidvalidity = uidvalidity
        current.nextuid = uidnext
        self._batch.uid_state = True

    def commit(self, wait: bool = True) -> None:
        """Make the batch durable and visible. Without `wait`, a batch of saves leaves its tail
        (see the module docstring) running when this returns."""
        self._join()
        batch = self._batch
        if not batch:
            return
        current = self._load()
        # with bodies to sync on the same filesystem, the control files wait for the same
        # syncfs (or fsync each)
        control_sync = (Durability.NEVER if batch.saves and self._control_beside_bodies
                        else self._durability)
        lock = contextlib.ExitStack()
        lock.enter_context(dotlock(os.path.join(self.control_dir, UIDLIST_NAME), self._owner))
        try:
            self._merge_disk_changes(current)
            control = self.control_dir
            written: dict[str, str] = {}  # temp -> final name once durable
            if batch.keywords:
                written[self._write_keywords(control_sync)] = os.path.join(control, KEYWORDS_NAME)
            uidlist_temp = os.path.join(control, "dovecot-uidlist.tmp")
            write_new(uidlist_temp, uidlist.encode(current), self._owner, control_sync)
            written[uidlist_temp] = os.path.join(control, PENDING_NAME)
        except BaseException:
            lock.close()
            raise
        self._batch = _Batch()
        if not wait and batch.saves and self._durability is not Durability.NEVER:
            try:
                self._tail = Background(self._finish, batch, written, lock)
                return
            except RuntimeError:  # no thread to be had: finish it here
                pass
        self._finish(batch, written, lock)

    def _finish(self, batch: _Batch, written: dict[str, str],
                lock: contextlib.ExitStack) -> None:
        """A commit's tail, under the lock its commit took: sync, name, release. If it fails,
        the mailbox is read again from disk at its next use."""
        with lock:
            control = self.control_dir
            try:
                if batch.saves:
                    self._durability.many(os.path.join(self.mail_dir, "tmp"), (
                        *(batch.unnamed[uid] if uid in batch.unnamed else self._tmp + found.name
                          for uid, found in batch.saves.items()),
                        *written))
                for temp, final in written.items():
                    os.rename(temp, final)
                self._durability.directory(control)
                changed = self._place_saves(batch)
                for uid, new_name in batch.renames.items():
                    found = self._files[uid]
                    self._rename_flags(found, new_name)
                    changed.add(found.subdir)
                for found in batch.expunged.values():
                    self._unlink(found)
                    changed.add(found.subdir)
                for subdir in sorted(changed):
                    self._durability.directory(os.path.join(self.mail_dir, subdir))
                os.rename(os.path.join(control, PENDING_NAME), os.path.join(control, UIDLIST_NAME))
                self._storage.settle_later(control)
                self._stamp = _stamp(os.stat(os.path.join(control, UIDLIST_NAME)))
            except BaseException as exc:
                for uid in list(batch.saves):  # bodies not placed yet go with the batch
                    _drop_body(batch, uid, self._tmp)
                self._uidlist = None  # nobody else touches them while a tail runs
                self._files = {}
                self._keywords = None  # letters given in the batch may not be on disk
                self._letters = {}
                if isinstance(exc, OSError):
                    raise os_error(exc, self.mail_dir) from None
                raise

    def _join(self) -> None:
        """Wait for the last commit's tail; raise what it met."""
        tail, self._tail = self._tail, None
        if tail is not None:
            tail.join()

    def _place_saves(self, batch: _Batch) -> set[str]:
        """The batch's bodies into new/ or cur/: unnamed ones linked, the others renamed;
        the subdirectories that got them."""
        directories: dict[str, int] = {}
        changed = set()
        try:
            for uid, found in batch.saves.items():
                fd = batch.unnamed.pop(uid, None)
                changed.add(found.subdir)
                if fd is None:
                    os.rename(self._tmp + found.name,
                              f"{self.mail_dir}/{found.subdir}/{found.name}")
                    continue
                directory = directories.get(found.subdir)
                if directory is None:
                    directory = directories[found.subdir] = os.open(
                        f"{self.mail_dir}/{found.subdir}", os.O_RDONLY | os.O_DIRECTORY)
                bodies.publish(fd, directory, found.name)
        finally:
            for directory in directories.values():
                os.close(directory)
        return changed

    def _write_keywords(self, durability: Durability) -> str:
        """Under the uidlist lock: the new dovecot-keywords in a temp file, keeping names
        another writer added; if it gave one of our letters to another name, TemporaryError
        (nothing stored yet)."""
        ours = self._keyword_names()
        try:
            with open(os.path.join(self.control_dir, KEYWORDS_NAME), "rb") as handle:
                theirs = keywords.parse(handle.read())
        except FileNotFoundError:
            theirs = {}
        for index, name in theirs.items():
            if ours.setdefault(index, name) != name:
                raise TemporaryError(f"mailbox {self._name}: keywords changed by another "
                                     "writer during the sync; run again")
        if len(set(ours.values())) != len(ours):
            raise TemporaryError(f"mailbox {self._name}: keywords changed by another writer "
                                 "during the sync; run again")
        temp = temp_for(os.path.join(self.control_dir, KEYWORDS_NAME))
        write_new(temp, keywords.encode(ours), self._owner, durability)
        return temp

    def _rename_flags(self, found: MessageFile, new_name: str) -> None:
        old_path = os.path.join(self.mail_dir, found.subdir, found.name)
        if not exists(old_path):
            self._refind(found)
            old_path = os.path.join(self.mail_dir, found.subdir, found.name)
        os.rename(old_path, os.path.join(self.mail_dir, found.subdir, new_name))
        found.name = new_name

    def _unlink(self, found: MessageFile) -> None:
        try:
            os.unlink(os.path.join(self.mail_dir, found.subdir, found.name))
        except FileNotFoundError:
            try:
                self._refind(found)
            except NotFoundError:
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.mail_dir, found.subdir, found.name))

    def _merge_disk_changes(self, current: UidList) -> None:
        """Under the lock, when another writer (Dovecot) changed the uidlist since we read it:
        take its new records (whose files exist) and its expunges, and move our own new
        messages above its UIDs. A UID the caller asked for that was taken meanwhile is a
        TemporaryError (nothing of the batch is stored; a re-run settles it)."""
        if not self._uidlist_changed():
            return
        on_disk, _ = self._read_uidlist()
        if on_disk is None:
            return
        batch = self._batch
        for uid in [uid for uid in current.records
                    if uid not in on_disk.records and uid not in batch.saves]:
            del current.records[uid]  # expunged by the other writer
            self._files.pop(uid, None)
            batch.renames.pop(uid, None)
        present: set[str] | None = None
        clashes = []
        for uid, record in on_disk.records.items():
            mine = current.records.get(uid)
            if mine is not None and mine.basename == record.basename:
                continue
            if uid in batch.expunged or (mine is not None and uid not in batch.saves):
                continue
            if present is None:
                present = scan.present_basenames(self.mail_dir)
            if record.basename not in present:
                continue
            if mine is not None:  # our new message got the UID the other writer gave out
                current.records[-uid] = mine  # parked until renumbered below
                clashes.append(uid)
            current.records[uid] = record
        nextuid = max(current.nextuid, on_disk.nextuid, max(current.records, default=0) + 1)
        for uid in clashes:
            if uid not in batch.auto_uids:
                current.records.pop(-uid, None)
                raise TemporaryError(f"mailbox {self._name}: UID {uid} was taken by another "
                                     "writer during the sync; run again")
            record = current.records.pop(-uid)
            record.uid = nextuid
            current.records[nextuid] = record
            batch.saves[nextuid] = batch.saves.pop(uid)
            if uid in batch.unnamed:
                batch.unnamed[nextuid] = batch.unnamed.pop(uid)
            self._files[nextuid] = batch.saves[nextuid]
            nextuid += 1
        current.records = dict(sorted((uid, record) for uid, record in current.records.items()
                                      if uid > 0))
        if not batch.uid_state:
            current.nextuid = nextuid

    def close(self) -> None:
        """Drop an uncommitted batch: its bodies go, nothing else changed on disk. The last
        commit's tail is waited for, and raises what it met."""
        for uid in list(self._batch.saves):
            _drop_body(self._batch, uid, self._tmp)
        self._batch = _Batch()
        try:
            self._join()
        finally:
            self._uidlist = None
            self._files = {}
            self._storage.forget(self._name, self)


def _drop_body(batch: _Batch, uid: int, tmp: str) -> None:
    """Forget a save of `batch` and its body (unnamed, or in tmp/ under `tmp` + its name; gone
    already if it was placed)."""
    found = batch.saves.pop(uid)
    fd = batch.unnamed.pop(uid, None)
    if fd is None:
        discard(tmp + found.name)
    else:
        bodies.drop(fd)


def create_maildir(mail_dir: str, control_dir: str, owner: tuple[int, int] | None,
                   folder_marker: bool) -> None:
    """The directories of a new mailbox (and Maildir++'s `maildirfolder` marker file)."""
    for subdir in ("cur", "new", "tmp"):
        make_dirs(os.path.join(mail_dir, subdir), owner)
    make_dirs(control_dir, owner)
    if folder_marker:
        marker = os.path.join(mail_dir, "maildirfolder")
        if not exists(marker):
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
            give(marker, owner)
