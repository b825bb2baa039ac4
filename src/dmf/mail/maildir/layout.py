"""Where each mailbox lives on disk: Maildir++ (`.A.B` under the root, separator ".") or
`LAYOUT=fs` (`A/B` directories, separator "/"), INBOX at the root unless `INBOX=` moves it,
control files (dovecot-uidlist, dovecot-keywords, subscriptions) under `CONTROL=` if given.

Names are validated before they reach the filesystem: an empty level (a leading, trailing or
doubled "/"), "." or "..", control characters, the on-disk separator inside a level, or (fs
layout) a level named cur, new or tmp are refused with NotPossibleError naming the mailbox.
Names that begin with "~" are stored as they are (`.~Name`): nothing is lost, though Dovecot
itself refuses to open such a mailbox (the sync engine warns about them).
"""

import os
from collections.abc import Iterator
from typing import NamedTuple

from dmf.errors import NotPossibleError, Scope
from dmf.mail import mutf7
from dmf.mail.model import HIERARCHY_SEPARATOR
from dmf.mail.paths import exists, is_dir

INBOX = "INBOX"
MAILDIR_SUBDIRS = ("cur", "new", "tmp")
def _has_control_chars(text: str) -> bool:
    return any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text)


class MaildirLayout(NamedTuple):
    """Its paths are absolute and normalised (`paths.normal_path`), as parse_maildir makes
    them: the directories derived from them then compare as strings."""

    root: str
    fs_layout: bool = False
    inbox: str | None = None  # INBOX= : INBOX somewhere else than the root
    control: str | None = None  # CONTROL= : control files in a separate tree
    index: str | None = None  # INDEX= : where Dovecot keeps its index files (dmf writes none)
    index_in_memory: bool = False  # INDEX=MEMORY : Dovecot keeps no index files at all

    @property
    def separator(self) -> str:
        return "/" if self.fs_layout else "."

    @property
    def control_root(self) -> str:
        return self.control or self.root

    def canonical(self, name: str) -> str:
        """The name with INBOX spelt in capitals, validated."""
        levels = name.split(HIERARCHY_SEPARATOR)
        if levels[0].upper() == INBOX:
            levels[0] = INBOX
        for level in levels:
            if not level:
                raise NotPossibleError(f"invalid mailbox name {name!r}: empty hierarchy level "
                                       "(leading, trailing or doubled '/')", scope=Scope.MAILBOX)
            if level in (".", ".."):
                raise NotPossibleError(f"invalid mailbox name {name!r}: '{level}' is not "
                                       "allowed as a hierarchy level", scope=Scope.MAILBOX)
            if _has_control_chars(level):
                raise NotPossibleError(f"invalid mailbox name {name!r}: control characters",
                                       scope=Scope.MAILBOX)
            if not self.fs_layout and "." in level:
                raise NotPossibleError(f"invalid mailbox name {name!r}: '.' is the Maildir++ "
                                       "hierarchy separator", scope=Scope.MAILBOX)
            if self.fs_layout and level in MAILDIR_SUBDIRS:
                raise NotPossibleError(f"invalid mailbox name {name!r}: '{level}' clashes with "
                                       "a Maildir directory", scope=Scope.MAILBOX)
        return HIERARCHY_SEPARATOR.join(levels)

    def relative_dir(self, name: str) -> str:
        """The mailbox's directory relative to the root ("" for INBOX)."""
        if name == INBOX:
            return ""
        levels = [mutf7.encode(level) for level in name.split(HIERARCHY_SEPARATOR)]
        return "/".join(levels) if self.fs_layout else "." + ".".join(levels)

    def mail_dir(self, name: str) -> str:
        if name == INBOX and self.inbox is not None:
            return self.inbox
        relative = self.relative_dir(name)
        return os.path.join(self.root, relative) if relative else self.root

    def control_dir(self, name: str) -> str:
        """Where dovecot-uidlist and dovecot-keywords live. With CONTROL=, Dovecot 2.3 keeps
        INBOX's under CONTROL/.INBOX (checked with `doveadm mailbox path -t control`)."""
        return self.mail_dir(name) if self.control is None else self._beside(self.control, name)

    def index_dir(self, name: str) -> str | None:
        """Where Dovecot keeps the mailbox's index files (`doveadm mailbox path -t index`):
        the mail directory, or INDEX= laid out as CONTROL= is; None for INDEX=MEMORY."""
        if self.index_in_memory:
            return None
        return self.mail_dir(name) if self.index is None else self._beside(self.index, name)

    def _beside(self, tree: str, name: str) -> str:
        """The mailbox's directory in a separate tree: INBOX gets its own level there."""
        relative = self.relative_dir(name)
        if not relative:
            relative = "INBOX" if self.fs_layout else ".INBOX"
        return os.path.join(tree, relative)

    def list_dirs(self) -> Iterator[tuple[str, str]]:
        """(name, mail dir) of every mailbox on disk, INBOX first if it exists. Directories
        whose names are not valid modified UTF-7 are listed under their raw on-disk name."""
        inbox = self.mail_dir(INBOX)
        if is_dir(inbox):
            yield INBOX, inbox
        if self.fs_layout:
            yield from self._walk_fs(self.root, [])
            return
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return
        for entry in entries:
            stored = entry.name
            if len(stored) < 2 or stored[0] != "." or stored[1] == "." or not entry.is_dir():
                continue
            levels = stored[1:].split(".")
            if not all(levels) or entry.path == self.inbox:
                continue
            yield HIERARCHY_SEPARATOR.join(_decoded(level) for level in levels), entry.path

    def _walk_fs(self, directory: str, levels: list[str]) -> Iterator[tuple[str, str]]:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.name in MAILDIR_SUBDIRS \
                    or not entry.is_dir():
                continue
            path = entry.path
            child = [*levels, _decoded(entry.name)]
            name = HIERARCHY_SEPARATOR.join(child)
            if path == self.inbox:
                continue
            if is_dir(f"{path}/cur") or is_dir(f"{path}/new") \
                    or exists(f"{path}/dovecot-uidlist"):
                yield name, path
            yield from self._walk_fs(path, child)


def _decoded(level: str) -> str:
    try:
        return mutf7.decode(level)
    except NotPossibleError:
        return level
