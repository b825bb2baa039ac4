"""Property injection: `%{mdb:X}` (the job's user fields) and `%{conf:Y}` (configuration) in
command items.

Order (a choice between the seed's two; this is section 3.10.1's): 1. custom `command.inject`
properties, 2. imapc properties from configuration, 3. user properties from the job. Each stage
is one pass over the text; a value put in by an earlier stage is scanned by the later ones, a value
put in by the last stage is never scanned again. So configuration may refer to the job
(`inject: {home: "/data/%{mdb:2chrruid}/%{mdb:ruid}"}` works), a custom key named like an imapc
key (`imapc_host`) overrides it, and job data - which users submit - comes last and stays
verbatim: a uid of `%{conf:imapc_master_password}` is injected as those characters, never
expanded. (The appendix order, user before imapc, would let a submitted field pull the master
password into a command.)

Secret values (keys whose name holds `password`) from the configuration stages are held back
as opaque markers until the job stage is done, so a password that happens to contain `%{...}`
is neither expanded nor quoted back in an error message.

Values go into one argv item each; nothing here or downstream hands them to a shell, so `;`,
`$(...)`, backticks and quotes are plain characters. A key that is known but has no value (no
email, no imapc prefix) injects the empty string; an `mdb` or `conf` key that is not known is
a ConfigError naming it. Other `%{...}` forms are Dovecot's own variables (`%{home}`,
`%{env:HOME}` in a `-o mail_location=...`) and pass through untouched.

Derived user fields:
- `md5path`: `<h[0:2]>/<h[2:4]>/<uid>` where h is the lower-case hex MD5 of the UTF-8 uid: the
  two-level hashed directory admins use to spread homes (`/var/vmail/%{mdb:md5path}`).
- `2chrruid`: the first two characters of the ruid (the ruid itself when shorter), the usual
  one-level split of a source platform's spool (`/var/spool/mail/ab/abel`).
- `container`: the userdb_container found by fetch-container, empty when not fetched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from dmf.errors import ConfigError
from dmf.worker.job_context import JobContext
from dmf.worker.source_settings import SourceSettings

_REFERENCE = re.compile(r"%\{([^}:]*):([^}]*)\}")

MDB_KEYS = ("md5path", "2chrruid", "container", "uid", "ruid", "sourcehost", "source",
            "sourcepasswd", "imapcoptions", "email", "sourceport", "imapc_ssl", "exclude")
IMAPC_CONF_KEYS = ("imapc_host", "imapc_master_password", "imapc_master_user", "imapc_prefix",
                   "imapc_port")


def md5path(uid: str) -> str:
    digest = hashlib.md5(uid.encode("utf-8")).hexdigest()
    return f"{digest[0:2]}/{digest[2:4]}/{uid}"


def user_properties(context: JobContext, container: str | None = None) -> dict[str, str]:
    """The `%{mdb:X}` table of one job."""
    fields: dict[str, object] = {
        "md5path": md5path(context.uid),
        "2chrruid": context.ruid[:2],
        "container": container,
        "uid": context.uid,
        "ruid": context.ruid,
        "sourcehost": context.source_host,
        "source": context.source,
        "sourcepasswd": context.source_password,
        "imapcoptions": context.imapc_options,
        "email": context.email,
        "sourceport": context.source_port,
        "imapc_ssl": context.imapc_ssl,
        "exclude": context.exclude,
    }
    return {key: "" if value is None else str(value) for key, value in fields.items()}


def imapc_properties(settings: SourceSettings) -> dict[str, str]:
    imapc = settings.imapc
    fields: dict[str, object] = {
        "imapc_host": imapc.host,
        "imapc_master_password": imapc.master_password,
        "imapc_master_user": imapc.master_user,
        "imapc_prefix": imapc.prefix,
        "imapc_port": imapc.port,
    }
    return {key: "" if value is None else str(value) for key, value in fields.items()}


def is_secret_key(key: str) -> bool:
    return "password" in key.lower() or key == "sourcepasswd"


def secret_values(context: JobContext, settings: SourceSettings) -> frozenset[str]:
    """Every password a job's commands may carry: hidden in details and logs, kept out of argv."""
    candidates = [context.source_password, settings.imapc.master_password,
                  settings.doveadm.password, settings.http.password]
    candidates += [value for key, value in (settings.command.inject or {}).items()
                   if is_secret_key(key)]
    return frozenset(value for value in candidates if value)


_MARKER = re.compile(r"\x00(\d+)\x00")


class Injector:
    """Expands references in command items for one job (order: module docstring)."""

    def __init__(self, user: Mapping[str, str], imapc: Mapping[str, str],
                 inject: Mapping[str, str]) -> None:
        self._stages = (dict(inject), dict(imapc))
        self._user = dict(user)
        self._held: list[str] = []

    @classmethod
    def for_job(cls, context: JobContext, settings: SourceSettings,
                container: str | None = None) -> Injector:
        return cls(user_properties(context, container), imapc_properties(settings),
                   settings.command.inject or {})

    def expand(self, text: str) -> str:
        for table in self._stages:
            text = _REFERENCE.sub(lambda match, values=table: self._conf_value(match, values),
                                  text)
        text = _REFERENCE.sub(self._user_value, text)
        return _MARKER.sub(lambda match: self._held[int(match[1])], text)

    def _conf_value(self, match: re.Match[str], table: Mapping[str, str]) -> str:
        key = match[2]
        if match[1] != "conf" or key not in table:
            return match[0]
        if not is_secret_key(key):
            return table[key]
        self._held.append(table[key])
        return f"\x00{len(self._held) - 1}\x00"

    def _user_value(self, match: re.Match[str]) -> str:
        namespace, key = match[1], match[2]
        if namespace == "mdb" and key in self._user:
            return self._user[key]
        if namespace in ("mdb", "conf"):
            raise ConfigError(f"unknown property {match[0]}: no {namespace} key {key!r} "
                              f"(custom keys go under command.inject)")
        return match[0]
