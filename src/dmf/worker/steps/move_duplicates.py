"""Move duplicates (seed 3.2): messages whose UID the source reuses ("Expunged message reappeared
in session") are moved out of the way over IMAP before the migration command is retried.

For each mailbox M and its duplicate UIDs, on the source host: create `M<sep>lost+found-<leaf of
M>` (a mailbox under M; `<sep>` is the server's hierarchy separator), `UID COPY` the UIDs there,
then flag them `\\Deleted` and `UID EXPUNGE` exactly those UIDs. Without UIDPLUS's UID EXPUNGE
nothing is flagged or expunged (a plain EXPUNGE would also remove messages the user had flagged
`\\Deleted`): the copies stay and an error says so. Mailbox names in the log are "/"-separated
Unicode; on the wire they are modified UTF-7 in the server's separator.

Connection: the job's source host and port (else `imapc.host` / `imapc.port`), TLS for
`imapc_ssl` `imaps` (STARTTLS for `starttls`, verified against the system's trust store); login
as the ruid with the job's password, or SASL PLAIN as the ruid authorised by `imapc.master-user`.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import re
import ssl

from dmf.mail import mutf7
from dmf.worker.commands import mask
from dmf.worker.steps.runtime import StepRuntime

LOST_FOUND_PREFIX = "lost+found-"
TIMEOUT_SECONDS = 60.0
_LIST_SEPARATOR = re.compile(rb'^\([^)]*\) (?:"((?:[^"\\]|\\.)*)"|NIL) ')


class _ImapFailure(Exception):
    pass


def lost_found_name(mailbox: str) -> str:
    """The "/"-separated name of the lost+found mailbox of `mailbox`."""
    return f"{mailbox}/{LOST_FOUND_PREFIX}{mailbox.rsplit('/', 1)[-1]}"


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: tuple[str, list], what: str) -> list:
    status, data = response
    if status != "OK":
        raise _ImapFailure(f"{what}: {status} {data!r}")
    return data


class _Connection:
    def __init__(self, runtime: StepRuntime) -> None:
        context, imapc = runtime.context, runtime.settings.imapc
        host = context.source_host or imapc.host
        if not host:
            raise _ImapFailure("no source host: the job has none and imapc.host is not set")
        tls = context.imapc_ssl or "no"
        port = context.source_port or imapc.port or (993 if tls == "imaps" else 143)
        self._imap = (imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(),
                                        timeout=TIMEOUT_SECONDS) if tls == "imaps"
                      else imaplib.IMAP4(host, port, timeout=TIMEOUT_SECONDS))
        if tls == "starttls":
            _check(self._imap.starttls(ssl.create_default_context()), "STARTTLS")
        if context.source_password is not None:
            _check(self._imap.login(context.ruid, context.source_password), "LOGIN")
        elif imapc.master_user:
            secret = f"{context.ruid}\0{imapc.master_user}\0{imapc.master_password or ''}"
            _check(self._imap.authenticate("PLAIN", lambda _challenge: secret.encode()),
                   "AUTHENTICATE PLAIN")
        else:
            raise _ImapFailure("no password for the source: the job has none and "
                               "imapc.master-user is not set")
        self.separator = self._separator()
        capabilities = _check(self._imap.capability(), "CAPABILITY")  # after login: complete
        self.uid_expunge = b"UIDPLUS" in b" ".join(capabilities).upper().split()

    def _separator(self) -> str:
        data = _check(self._imap.list('""', '""'), "LIST")
        match = _LIST_SEPARATOR.match(data[0] if data and data[0] else b"")
        return match[1].decode().replace("\\\\", "\\") if match and match[1] else "/"

    def wire(self, name: str) -> str:
        return _quoted(mutf7.encode(name.replace("/", self.separator)))

    def move(self, mailbox: str, uids: list[str]) -> str | None:
        """Move `uids` of `mailbox` to its lost+found; an error text when partly done."""
        target = self.wire(lost_found_name(mailbox))
        status, data = self._imap.create(target)
        if status != "OK" and b"ALREADYEXISTS" not in b" ".join(data or []).upper():
            raise _ImapFailure(f"CREATE {lost_found_name(mailbox)}: {status} {data!r}")
        _check(self._imap.select(self.wire(mailbox)), f"SELECT {mailbox}")
        uid_set = ",".join(uids)
        _check(self._imap.uid("COPY", uid_set, target), f"UID COPY {mailbox} {uid_set}")
        if not self.uid_expunge:
            return (f"{mailbox}: UIDs {uid_set} copied to {lost_found_name(mailbox)} but not "
                    "expunged: the server lacks UIDPLUS")
        _check(self._imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"),
               f"UID STORE {mailbox} {uid_set}")
        _check(self._imap.uid("EXPUNGE", uid_set), f"UID EXPUNGE {mailbox} {uid_set}")
        return None

    def close(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self._imap.logout()


def _move_all(runtime: StepRuntime, invalid: dict[str, list[str]]) -> list[str]:
    errors: list[str] = []
    connection = _Connection(runtime)
    try:
        for mailbox, uids in invalid.items():
            try:
                error = connection.move(mailbox, uids)
            except _ImapFailure as exc:
                error = str(exc)
            if error:
                errors.append(error)
    finally:
        connection.close()
    return errors


async def move_duplicates(runtime: StepRuntime, invalid: dict[str, list[str]]) -> list[str]:
    """Move the duplicate UIDs out of the way; the errors met (empty when all moved)."""
    try:
        errors = await asyncio.to_thread(_move_all, runtime, invalid)
    except (_ImapFailure, imaplib.IMAP4.error, OSError) as exc:
        errors = [f"move-duplicates: {type(exc).__name__}: {exc}"]
    return [mask(error, runtime.secrets) for error in errors]
