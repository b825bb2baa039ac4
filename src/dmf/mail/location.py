"""Dovecot mail location strings: `maildir:PATH[:KEY=VALUE]...` with `~` and `%u %n %d %h`
expansion (also `%{user}`, `%{username}`, `%{domain}`, `%{home}`, the `L` lower-case modifier
and `%%`). `::` is a literal colon in a path, as in Dovecot.

Keys: INBOX=, CONTROL=, LAYOUT=maildir++|fs are honoured; INDEX= (a path or MEMORY) is
kept only to report where Dovecot's index lives (dmf writes no index files); INDEXPVT=,
INDEXSHARED= and VOLATILEDIR= name other Dovecot caches and are accepted and ignored;
other keys Dovecot knows but dmf does not implement are NotPossibleError, unknown
keys ConfigError. Schemes other than maildir (mbox, imapc, ...) are NotPossibleError for now.
"""

from __future__ import annotations

import os
import re

from dmf.errors import ConfigError, NotFoundError, NotPossibleError
from dmf.mail.durability import Durability
from dmf.mail.maildir.atomic import os_error
from dmf.mail.maildir.layout import INBOX, MaildirLayout
from dmf.mail.maildir.mailbox import create_maildir
from dmf.mail.maildir.ownership import Owner, make_dirs
from dmf.mail.maildir.store import MaildirStorage
from dmf.mail.paths import is_dir, normal_path

_IGNORED_KEYS = {"INDEXPVT", "INDEXSHARED", "VOLATILEDIR"}
_UNSUPPORTED_KEYS = {"DIRNAME", "FULLDIRNAME", "SUBSCRIPTIONS", "ALT", "NO-NOSELECT", "UTF8",
                     "ITERINDEX", "BROKENCHARS", "MAILBOXDIR", "LISTINDEX"}
_VARIABLE = re.compile(r"%(L?)(?:([unhd%])|\{(user|username|domain|home)\})")
_LONG_NAMES = {"user": "u", "username": "n", "domain": "d", "home": "h"}


def _split(location: str) -> list[str]:
    """Split at single colons; `::` stands for a literal colon."""
    parts = [""]
    index = 0
    while index < len(location):
        char = location[index]
        if char == ":" and location.startswith("::", index):
            parts[-1] += ":"
            index += 2
            continue
        if char == ":":
            parts.append("")
        else:
            parts[-1] += char
        index += 1
    return parts


def expand(text: str, *, user: str, home: str | None) -> str:
    """`~` and %-variables of one location part."""
    def need_home() -> str:
        if not home:
            raise ConfigError(f"mail location {text!r} uses the home directory, but the user "
                              f"{user!r} has none")
        return home

    if text == "~" or text.startswith("~/"):
        text = need_home() + text[1:]
    values = {"u": user, "n": user.partition("@")[0], "d": user.partition("@")[2], "%": "%"}

    def substitute(match: re.Match[str]) -> str:
        key = match.group(2) or _LONG_NAMES[match.group(3)]
        value = need_home() if key == "h" else values[key]
        return value.lower() if match.group(1) else value

    expanded = _VARIABLE.sub(substitute, text)
    leftover = re.search(r"%(\{[^}]*\}|.?)", _VARIABLE.sub("", text))
    if leftover:
        raise ConfigError(f"mail location {text!r}: unknown variable {leftover.group()!r}")
    return expanded


def parse_maildir(location: str, *, user: str, home: str | None) -> MaildirLayout:
    """The layout a `maildir:` location names (no filesystem access)."""
    parts = _split(location[len("maildir:"):])
    if not parts[0]:
        raise ConfigError(f"mail location {location!r}: the maildir path is empty")
    root = normal_path(expand(parts[0], user=user, home=home))
    if not os.path.isabs(root):
        raise ConfigError(f"mail location {location!r}: the path {root!r} is not absolute")
    settings: dict[str, str] = {}
    for part in parts[1:]:
        key, equals, value = part.partition("=")
        key = key.upper()
        if not equals and key != "NO-NOSELECT":
            raise ConfigError(f"mail location {location!r}: {part!r} is not KEY=VALUE")
        if key in _UNSUPPORTED_KEYS:
            raise NotPossibleError(f"mail location {location!r}: {key}= is not supported yet")
        if key not in _IGNORED_KEYS | {"INBOX", "CONTROL", "INDEX", "LAYOUT"}:
            raise ConfigError(f"mail location {location!r}: unknown setting {key!r}")
        settings[key] = expand(value, user=user, home=home)
    layout = settings.get("LAYOUT", "maildir++").lower()
    if layout not in ("maildir++", "fs"):
        raise NotPossibleError(f"mail location {location!r}: LAYOUT={layout} is not supported")
    in_memory = settings.get("INDEX", "").upper() == "MEMORY"
    if in_memory:
        del settings["INDEX"]
    paths = {}
    for key in ("INBOX", "CONTROL", "INDEX"):
        if key in settings:
            path = normal_path(settings[key])
            if not os.path.isabs(path):
                raise ConfigError(f"mail location {location!r}: {key}={settings[key]!r} is not "
                                  "an absolute path")
            paths[key] = path
    return MaildirLayout(root, layout == "fs", paths.get("INBOX"), paths.get("CONTROL"),
                         paths.get("INDEX"), in_memory)


def storage_exists(location: str, *, user: str, home: str | None) -> bool:
    """Whether open_storage(create=False) finds the store. Dovecot treats a mail location
    whose directory is missing as an empty store (creating it on first use); inspection
    commands ask first so that they can do the same."""
    if not location.lower().startswith("maildir:"):
        return True  # open_storage reports what is wrong with it
    layout = parse_maildir(location, user=user, home=home)
    return is_dir(layout.root) and is_dir(layout.mail_dir(INBOX))


def open_storage(location: str, *, user: str, home: str | None,
                 owner: Owner | None = None, create: bool = False,
                 durability: Durability = Durability.OPTIMIZED) -> MaildirStorage:
    """The storage a Dovecot location string names. With create=False a missing Maildir is
    NotFoundError; with create=True its root and INBOX are made (owned by `owner`). Its writes
    are synced as `durability` (the mail_fsync setting) says."""
    scheme, colon, _ = location.partition(":")
    if not colon or not scheme:
        raise ConfigError(f"mail location {location!r}: expected <format>:<path>, "
                          "e.g. maildir:~/Maildir")
    if scheme.lower() != "maildir":
        if scheme.lower() in ("mbox", "imapc", "mdbox", "sdbox", "pop3c", "obox"):
            raise NotPossibleError(f"mail location {location!r}: {scheme}: is not supported yet")
        raise ConfigError(f"mail location {location!r}: unknown mail format {scheme!r}")
    layout = parse_maildir(location, user=user, home=home)
    inbox = layout.mail_dir(INBOX)
    if not create and (not is_dir(layout.root) or not is_dir(inbox)):
        raise NotFoundError(f"mail location {location!r}: {layout.root} does not exist")
    try:
        if create:
            make_dirs(layout.root, owner)
        if create and not is_dir(os.path.join(inbox, "cur")):
            # directories only: INBOX's uidlist (GUID, UIDVALIDITY) comes from create_mailbox()
            # or from the first scan
            create_maildir(inbox, layout.control_dir(INBOX), owner, folder_marker=False)
    except OSError as exc:
        raise os_error(exc, layout.root) from None
    return MaildirStorage(layout, owner, durability)
