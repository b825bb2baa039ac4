"""Users without an auth service: Dovecot's static and passwd-file userdbs, read directly.

doveadm's `-u` asks a running auth process; dmf reads the same userdb configuration itself so
that `-u`, `-A` and `-d` work on a machine where no Dovecot runs (a migration host).
Lookups follow Dovecot's rules: userdbs are tried in order, the first that knows the user wins;
a passwd-file entry with uid 0 or without uid/gid is not a userdb user; only extra fields with
the `userdb_` prefix are userdb fields; `%u %n %d %h %%` are expanded in field values.
"""

import grp
import pwd
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import NamedTuple, Protocol

from dmf.errors import ConfigError, NotPossibleError
from dmf.mail.paths import normal_path
from dmf.mail.settings import MailSettings, UserdbSettings


class UserRecord(NamedTuple):
    """A userdb answer: the fields doveadm's `user` command prints, in the userdb's order."""

    user: str
    fields: Mapping[str, str] = MappingProxyType({})  # uid, gid, home, mail, ...

    @property
    def uid(self) -> int | None:
        value = self.fields.get("uid")
        return None if value is None else resolve_uid(value)

    @property
    def gid(self) -> int | None:
        value = self.fields.get("gid")
        return None if value is None else resolve_gid(value)

    @property
    def home(self) -> str | None:
        return self.fields.get("home") or None


class Userdb(Protocol):
    def lookup(self, user: str) -> UserRecord | None: ...

    def iterate(self) -> Iterator[str]:
        """Every user name, for `-A`; NotPossibleError where the userdb cannot list users."""
        ...


def resolve_uid(value: str) -> int:
    """A uid given as a number or a user name, as Dovecot's userdb_parse_uid accepts."""
    if value.isdigit():
        return int(value)
    try:
        return pwd.getpwnam(value).pw_uid
    except KeyError:
        raise ConfigError(f"Invalid uid {value!r}: no such user") from None


def resolve_gid(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise ConfigError(f"Invalid gid {value!r}: no such group") from None


def expand_variables(template: str, user: str, home: str | None = None) -> str:
    """Dovecot's short variables: %u user, %n its local part, %d its domain, %h home, %% %."""
    local, _, domain = user.partition("@")
    table = {"u": user, "n": local, "d": domain, "h": home or "", "%": "%"}
    out: list[str] = []
    index = 0
    while index < len(template):
        char = template[index]
        if char == "%" and index + 1 < len(template) and template[index + 1] in table:
            out.append(table[template[index + 1]])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _expand_fields(user: str, raw: Mapping[str, str]) -> dict[str, str]:
    """Expand variables in every field; home first, as %h in the others refers to it."""
    home = expand_variables(raw["home"], user) if raw.get("home") else None
    return {key: (home or "") if key == "home" else expand_variables(value, user, home)
            for key, value in raw.items()}


def _words(args: str) -> list[str]:
    """A userdb's args split as a shell would: only a configured userdb needs shlex, whose
    import costs every other run 0.3 ms of start-up."""
    import shlex

    return shlex.split(args)


class StaticUserdb:
    """`driver = static`: every user exists, with the same templated fields."""

    def __init__(self, args: str) -> None:
        self._template: dict[str, str] = {}
        for word in _words(args):
            key, sep, value = word.partition("=")
            if not sep or not key:
                raise ConfigError(f"userdb static: bad args entry {word!r} (expected key=value)")
            if key == "allow_all_users":
                continue  # no passdb here: every user is allowed either way
            self._template[key] = value

    def lookup(self, user: str) -> UserRecord | None:
        return UserRecord(user=user, fields=_expand_fields(user, self._template))

    def iterate(self) -> Iterator[str]:
        raise NotPossibleError("userdb static cannot list users (-A needs a passwd-file userdb)")


class PasswdFileEntry(NamedTuple):
    user: str
    fields: Mapping[str, str]  # uid, gid, home and userdb_ extra fields, unexpanded


def parse_passwd_file_line(line: str) -> PasswdFileEntry | None:
    """One `user:password:uid:gid:gecos:home:shell:extra_fields` line; None for a comment, a
    blank line or a user that is not a userdb user (nothing after the password, or uid 0), as
    Dovecot treats them."""
    if not line or line[0] in "#:":
        return None
    parts = line.split(":")
    user, rest = parts[0], parts[2:]
    if not rest or rest[0] == "0":
        return None
    fields: dict[str, str] = {}
    for key, value in zip(("uid", "gid"), rest, strict=False):
        if value:
            fields[key] = value
    home = rest[3] if len(rest) > 3 else ""
    if home:
        fields["home"] = home
    extras = rest[5:]
    if extras and extras[0] == "":
        # old format: an empty field, then the mail location (which may hold colons)
        location = ":".join(extras[1:])
        if location:
            fields["mail"] = location
    elif extras:
        for word in ":".join(extras).split():
            key, _, value = word.partition("=")
            if key.startswith("userdb_") and len(key) > len("userdb_"):
                fields[key[len("userdb_"):]] = value
    return PasswdFileEntry(user=user, fields=fields)


class PasswdFileUserdb:
    """`driver = passwd-file`, args `[username_format=...] PATH` (PATH may use %u %n %d)."""

    def __init__(self, args: str) -> None:
        words = _words(args)
        paths = [word for word in words if "=" not in word]
        if len(paths) != 1:
            raise ConfigError(f"userdb passwd-file: args must name one file, got {args!r}")
        self._path_template = paths[0]

    def _entries(self, user: str) -> Iterator[PasswdFileEntry]:
        path = normal_path(expand_variables(self._path_template, user))
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except FileNotFoundError:
            if "%" in self._path_template:
                return  # per-domain files: a missing file means an unknown user
            raise ConfigError(f"userdb passwd-file {path}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"userdb passwd-file {path}: {exc.strerror}") from None
        for line in text.splitlines():
            entry = parse_passwd_file_line(line)
            if entry is not None:
                yield entry

    def lookup(self, user: str) -> UserRecord | None:
        for entry in self._entries(user):
            if entry.user == user:
                return UserRecord(user=user, fields=_expand_fields(user, entry.fields))
        return None

    def iterate(self) -> Iterator[str]:
        if "%" in self._path_template:
            raise NotPossibleError(f"userdb passwd-file {self._path_template}: cannot list users "
                                   "of a templated path")
        seen: set[str] = set()
        for entry in self._entries(""):
            if entry.user not in seen:
                seen.add(entry.user)
                yield entry.user


class UserdbChain:
    """The configured userdbs in order; the first that knows a user answers."""

    def __init__(self, userdbs: list[Userdb]) -> None:
        self._userdbs = userdbs

    def __bool__(self) -> bool:
        return bool(self._userdbs)

    def lookup(self, user: str) -> UserRecord | None:
        for userdb in self._userdbs:
            record = userdb.lookup(user)
            if record is not None:
                return record
        return None

    def iterate(self) -> Iterator[str]:
        if not self._userdbs:
            raise NotPossibleError("-A needs a userdb: configure one with -c FILE")
        seen: set[str] = set()
        for userdb in self._userdbs:
            for user in userdb.iterate():
                if user not in seen:
                    seen.add(user)
                    yield user


def open_userdb(section: UserdbSettings) -> Userdb:
    if section.driver == "static":
        return StaticUserdb(section.args)
    return PasswdFileUserdb(section.args)


def userdb_from_settings(settings: MailSettings) -> UserdbChain:
    return UserdbChain([open_userdb(section) for section in settings.userdbs])
