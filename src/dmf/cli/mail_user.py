"""Who a command runs for and where their mail is: doveadm's `-u` / `-A` / `-F` / `$USER`.

Pure decisions over settings and userdb answers; the only outside reads are the environment
($USER, $HOME), the `-F` file and the userdb files, so tests drive every branch with real files.
"""

import os
import pwd
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import NamedTuple

from dmf.errors import ConfigError, NotPossibleError, UnknownUserError, UsageError
from dmf.mail.durability import Durability
from dmf.mail.paths import normal_path
from dmf.mail.settings import MailSettings
from dmf.mail.userdb import UserdbChain, expand_variables, resolve_gid, resolve_uid

REMOTE_PREFIXES = ("remote:", "remoteprefix:", "tcp:", "tcps:")


class MailUser(NamedTuple):
    """One user's mail context: what open_storage and the owner of new files need."""

    name: str
    home: str | None
    location: str | None  # the userdb's `mail`, else the mail_location setting
    owner: tuple[int, int] | None  # uid/gid new mail files get when run as root
    fields: Mapping[str, str] = MappingProxyType({})  # the userdb answer, if any
    durability: Durability = Durability.OPTIMIZED  # the mail_fsync setting


def choose_owner(settings: MailSettings, fields: Mapping[str, str],
                 running_as_root: bool) -> tuple[int, int] | None:
    """`mail_uid`/`mail_gid`, else the userdb's uid/gid; None when not root (files are then
    the caller's anyway) or when neither is known (the caller falls back to the destination
    parent's owner)."""
    if not running_as_root:
        return None
    uid_text = settings.get("mail_uid") or fields.get("uid")
    gid_text = settings.get("mail_gid") or fields.get("gid")
    if uid_text is None and gid_text is None:
        return None
    uid = resolve_uid(uid_text) if uid_text else None
    gid = resolve_gid(gid_text) if gid_text else None
    if uid is None:
        raise ConfigError(f"mail_gid={gid_text} is set but no mail_uid: set both")
    if gid is None:
        gid = _primary_gid(uid, uid_text or "")
    return uid, gid


def _primary_gid(uid: int, uid_text: str) -> int:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        raise ConfigError(f"mail_uid={uid_text} is set but no mail_gid, and uid {uid} has no "
                          "passwd entry to take a group from: set mail_gid") from None


def lookup_user(settings: MailSettings, userdb: UserdbChain, name: str, *,
                explicit: bool, environ: Mapping[str, str] | None = None,
                running_as_root: bool | None = None) -> MailUser:
    """Resolve `name`. With a userdb configured, an explicitly named user (-u, -A, -F) must
    be in it (UnknownUserError otherwise); `$USER` falls back to the settings and $HOME, as
    doveadm does for a standalone run."""
    env = os.environ if environ is None else environ
    root = os.geteuid() == 0 if running_as_root is None else running_as_root
    if not name:
        raise UsageError("user name is empty")
    record = userdb.lookup(name) if userdb else None
    if record is None and explicit and userdb:
        raise UnknownUserError(f"User doesn't exist: {name}")
    fields = dict(record.fields) if record is not None else {}
    home = fields.get("home") or None
    if home is None and settings.get("mail_home"):
        home = expand_variables(settings.get("mail_home") or "", name)
    if home is None and not explicit:
        home = env.get("HOME") or None
    location = fields.get("mail") or settings.mail_location
    return MailUser(name=name, home=home, location=location,
                    owner=choose_owner(settings, fields, root), fields=fields,
                    durability=Durability.from_setting(settings.get("mail_fsync")))


def default_user(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    name = env.get("USER", "")
    if not name:
        raise UsageError("USER environment is missing and -u option not used")
    return name


def read_users_file(path: str) -> list[str]:
    """`-F file`: one user per line (blank lines skipped; anything after a tab ignored)."""
    try:
        with open(normal_path(path), encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise NotPossibleError(f"-F {path}: {exc.strerror}") from None
    return [line.split("\t", 1)[0].strip() for line in text.splitlines() if line.strip()]


def user_names(settings: MailSettings, userdb: UserdbChain, *, user: str | None,
               all_users: bool, users_file: str | None) -> Iterator[tuple[str, bool]]:
    """(name, explicit) for each user a command runs for, from -u / -A / -F or $USER."""
    chosen = sum(1 for given in (user is not None, all_users, users_file is not None) if given)
    if chosen > 1:
        raise UsageError("-u, -A and -F are mutually exclusive")
    if user is not None:
        yield user, True
    elif all_users:
        for name in userdb.iterate():
            yield name, True
    elif users_file is not None:
        for name in read_users_file(users_file):
            yield name, True
    else:
        yield default_user(), False


def replica_location(settings: MailSettings, mail_user: MailUser) -> str:
    """`-d`: the destination from the user's `mail_replica` userdb field (or setting)."""
    location = mail_user.fields.get("mail_replica") or settings.get("mail_replica")
    if not location:
        raise ConfigError(f"-d: no mail_replica userdb field or setting for user "
                          f"{mail_user.name}")
    return location


def require_local(location: str) -> str:
    """dmf syncs local stores only; say so instead of reading `remote:` as a driver name."""
    if location.startswith(REMOTE_PREFIXES):
        raise NotPossibleError(f"Remote destination {location.split(':', 1)[0]}: is not "
                               "supported by dmf (use a local location such as maildir:PATH)")
    return location
