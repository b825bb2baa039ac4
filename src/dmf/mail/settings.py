"""The small Dovecot-like configuration of `-c FILE` and `-o key=value`.

dmf reads only what locating a user's mail needs (`mail_location`, `mail_uid`, `mail_gid`,
`mail_home`, `mail_replica` and the `userdb { }` sections) and how to write it (`mail_fsync`),
but accepts a whole dovecot.conf: other sections are skipped and other keys are kept without
meaning, so one file can serve both Dovecot and dmf.
"""

import os
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from dmf.errors import ConfigError
from dmf.mail.paths import normal_path

# A setting name as Dovecot spells them (`imapc_host`, `plugin/quota`): anything else given to
# `-o` is a typo that would otherwise be silently ignored.
SETTING_NAME = re.compile(r"[a-z][a-z0-9_]*(/[a-z0-9_]+)*")
# Settings that must hold a user or group (a name or a number) when given.
ID_KEYS = ("mail_uid", "mail_gid")
# Dovecot's old name for mail_location, still accepted by doveadm's -o.
LOCATION_ALIASES = ("mail_location", "mail")
USERDB_DRIVERS = frozenset({"static", "passwd-file"})
# Settings passed by environment instead of argv, so that a password never shows in `ps`: the
# migration worker sets DMF_SETTING_IMAPC_PASSWORD rather than `-o imapc_password=...`.
SETTING_ENV_PREFIX = "DMF_SETTING_"


class UserdbSettings(NamedTuple):
    """One `userdb { driver = ... args = ... }` section, in the order the file gives them."""

    driver: str
    args: str = ""


class MailSettings(NamedTuple):
    values: Mapping[str, str] = MappingProxyType({})
    userdbs: tuple[UserdbSettings, ...] = ()

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if value else None

    @property
    def mail_location(self) -> str | None:
        for key in LOCATION_ALIASES:
            value = self.get(key)
            if value:
                return value
        return None


def _strip_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _strip_comment(line: str) -> str:
    """Cut a `#` comment, except inside a double-quoted value."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


def parse_config(text: str, *, source: str = "config") -> MailSettings:
    """Parse Dovecot's `key = value` / `section [name] {` ... `}` syntax (no includes)."""
    values: dict[str, str] = {}
    userdbs: list[UserdbSettings] = []
    stack: list[str] = []  # names of the open sections
    userdb: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        where = f"{source} line {number}"
        if not line:
            continue
        if line == "}":
            if not stack:
                raise ConfigError(f"{where}: '}}' without an open section")
            if stack.pop() == "userdb" and not stack:
                userdbs.append(_userdb_section(userdb or {}, where))
                userdb = None
            continue
        if line.endswith("{"):
            section = line[:-1].split()
            if not section:
                raise ConfigError(f"{where}: section without a name")
            stack.append(section[0])
            if stack == ["userdb"]:
                userdb = {}
            continue
        if line.startswith("!include"):
            raise ConfigError(f"{where}: !include is not supported by dmf")
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or " " in key:
            raise ConfigError(f"{where}: expected 'key = value', got {raw.strip()!r}")
        value = _strip_quotes(value.strip())
        if not stack:
            values[key] = value
        elif userdb is not None and stack == ["userdb"]:
            userdb[key] = value
    if stack:
        raise ConfigError(f"{source}: section {stack[-1]!r} is not closed")
    return MailSettings(values=values, userdbs=tuple(userdbs))


def _userdb_section(entries: Mapping[str, str], where: str) -> UserdbSettings:
    driver = entries.get("driver", "")
    if driver not in USERDB_DRIVERS:
        raise ConfigError(f"{where}: userdb driver {driver!r} is not supported "
                          f"(use one of: {', '.join(sorted(USERDB_DRIVERS))})")
    return UserdbSettings(driver=driver, args=entries.get("args", ""))


def validate_override(key: str, value: str) -> None:
    """Reject an `-o` that dmf would silently ignore: a typo there would otherwise sync the
    wrong mail location."""
    if not SETTING_NAME.fullmatch(key):
        raise ConfigError(f"Invalid -o parameter {key}={value}: not a setting name: {key!r}")
    if key in ID_KEYS and not value.strip():
        raise ConfigError(f"Invalid -o parameter {key}=: empty value")


def settings_from_environment(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """`DMF_SETTING_<KEY>=value` pairs as settings: the key lower-cased (`IMAPC_PASSWORD` ->
    `imapc_password`). Settings whose names hold `/` cannot be given this way."""
    return [(name[len(SETTING_ENV_PREFIX):].lower(), value)
            for name, value in sorted(environ.items())
            if name.startswith(SETTING_ENV_PREFIX) and len(name) > len(SETTING_ENV_PREFIX)]


def load_settings(config_file: str | None,
                  overrides: Iterable[tuple[str, str]] = (),
                  environ: Mapping[str, str] | None = None) -> MailSettings:
    """The file's settings (if any), then `DMF_SETTING_*` variables, then each `-o` in the order
    given, later ones winning."""
    settings = MailSettings()
    if config_file is not None:
        try:
            with open(normal_path(config_file), encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError(f"Error reading configuration {config_file}: "
                              f"{exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"Error reading configuration {config_file}: not UTF-8") from None
        settings = parse_config(text, source=config_file)
    values = dict(settings.values)
    from_environment = settings_from_environment(os.environ if environ is None else environ)
    for key, value in [*from_environment, *overrides]:
        validate_override(key, value)
        if key in LOCATION_ALIASES:
            for alias in LOCATION_ALIASES:
                values.pop(alias, None)
        values[key] = value
    return MailSettings(values=values, userdbs=settings.userdbs)
