"""The seed's common command format turned into argument lists, the commands the doveadm worker
builds itself, and how a command is shown without its secrets.

Rendering order: root `name`, root `flags` (a string is split on spaces), root `options` (each
`{name, value}` is two argv items, or one without a value), root `arguments`, then the
sub-command: its name split on spaces (`mailbox status` is two items), its flags, its options, its
arguments. An argument given as a string is ONE argv item (`"messages vsize"`); a list is one item
per entry. Every item is expanded by the injector on its own, so an injected value never splits
or joins items, and nothing is ever handed to a shell.

Shown form (details, command logs): items joined by spaces, an item holding a space, a quote or a
backslash wrapped in double quotes with `"` and `\\` escaped (the seed prints `"messages vsize"`),
and every secret value replaced by `<hidden>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dmf.errors import ConfigError
from dmf.worker.job_context import HIDDEN, JobContext
from dmf.worker.source_settings import CommandOption, CommandSpec, SourceSettings, SubCommand

Expand = Callable[[str], str]

STATUS_FIELDS = "messages vsize"
STATUS_PATTERNS = ("INBOX/*", "INBOX", "*")


def _options(options: Iterable[CommandOption], expand: Expand) -> list[str]:
    items: list[str] = []
    for option in options:
        items.append(expand(option.name))
        if option.value is not None:
            items.append(expand(option.value))
    return items


def _sub_command(sub: SubCommand, expand: Expand) -> list[str]:
    return ([expand(word) for word in sub.name.split()]
            + [expand(flag) for flag in sub.flag_items]
            + _options(sub.options, expand)
            + [expand(argument) for argument in sub.argument_items])


def render(spec: CommandSpec, expand: Expand) -> list[str]:
    """The argument list of a configured command (order: module docstring)."""
    argv = [expand(spec.name)]
    argv += [expand(flag) for flag in spec.flag_items]
    argv += _options(spec.options, expand)
    argv += [expand(argument) for argument in spec.argument_items]
    if spec.sub_command is not None:
        argv += _sub_command(spec.sub_command, expand)
    return argv


# `doveadm mailbox status` field names: a first argument made of these is the field list
STATUS_FIELD_NAMES = frozenset({"all", "messages", "recent", "uidnext", "uidvalidity", "unseen",
                                "highestmodseq", "vsize", "guid", "firstsaved"})
_QUIET_FLAGS = frozenset("Dv")  # debug and verbosity: their lines would corrupt the count


def _without_noise(flags: Iterable[str]) -> list[str]:
    """Root flags less `-D`, `-v` (alone or combined) and any formatter (`-f x`, `-fx`)."""
    kept: list[str] = []
    items = iter(flags)
    for flag in items:
        if flag == "-f":
            next(items, None)
        elif not (flag.startswith("-f") or (len(flag) > 1 and flag[0] == "-"
                                             and set(flag[1:]) <= _QUIET_FLAGS)):
            kept.append(flag)
    return kept


def count_command(spec: CommandSpec) -> CommandSpec:
    """`count.remote-command` as the seed's appendix says it always runs: `-f tab`, no `-D` /
    `-v`, sub-command `mailbox status` with `messages vsize` as its field list. The operator's
    setting overrides and mailbox patterns are kept; a formatter, debug or verbosity anywhere in
    the root command, or another field list, is replaced, since any of them makes the output
    unreadable to the count. Without patterns, the default ones (`INBOX/* INBOX *`) are used."""
    options = [option for option in spec.options
               if option.name != "-f" and _without_noise([option.name])]
    sub = spec.sub_command or SubCommand(name="mailbox status")
    arguments = list(sub.argument_items or spec.argument_items)
    if arguments and set(arguments[0].replace(",", " ").split()) <= STATUS_FIELD_NAMES:
        arguments = arguments[1:]
    return spec.model_copy(update={
        "flags": _without_noise(spec.flag_items),
        "options": [CommandOption(name="-f", value="tab"), *options],
        "arguments": None,
        "sub_command": sub.model_copy(update={"name": "mailbox status",
                                              "arguments": [STATUS_FIELDS, *(
                                                  arguments or STATUS_PATTERNS)]})})


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `<hidden>`, longest first so that a secret holding
    another one is hidden whole."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


def _quote(item: str) -> str:
    if item and not any(c in item for c in ' \t\n"\\\''):
        return item
    return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shown(argv: Iterable[str], secrets: Iterable[str]) -> str:
    """The command as details and logs show it (module docstring)."""
    hidden = list(secrets)
    return " ".join(_quote(mask(item, hidden)) for item in argv)


def _setting(key: str, value: str) -> list[str]:
    return ["-o", f"{key}={value}"]


def imapc_settings(context: JobContext, settings: SourceSettings) -> list[str]:
    """`-o imapc_*` settings reaching the user's source mailbox: the job's own connection
    (host, port, ssl, ruid and password) where it has one, the configured imapc section where it
    does not; without a job password the configured master user logs in as the ruid.
    `imapc.prefix` becomes `imapc_list_prefix`, `imapc.session-properties` more `-o` settings.
    The password is a literal here; for the doveadm type the runner moves it out of argv."""
    imapc = settings.imapc
    host = context.source_host or imapc.host
    port = context.source_port or imapc.port
    argv: list[str] = []
    if host:
        argv += _setting("imapc_host", host)
    if port:
        argv += _setting("imapc_port", str(port))
    if context.imapc_ssl:
        argv += _setting("imapc_ssl", context.imapc_ssl)
    argv += _setting("imapc_user", context.ruid)
    if context.source_password is not None:
        argv += _setting("imapc_password", context.source_password)
    elif imapc.master_user:
        argv += _setting("imapc_master_user", imapc.master_user)
        argv += _setting("imapc_password", imapc.master_password or "")
    if imapc.prefix:
        argv += _setting("imapc_list_prefix", imapc.prefix)
    for key, value in (imapc.session_properties or {}).items():
        argv += _setting(key, value)
    return argv


def default_migration(doveadm: str, context: JobContext, settings: SourceSettings) -> list[str]:
    """`<doveadm> [-v] -o imapc_... backup -R -u <uid> imapc:`: a one-way mirror of the source
    mailbox into the local user (what the Dovecot migration guide and the seed's example do).
    `-v` is added while the log analyzer runs: dmf then prints its `dmf-event` lines, Dovecot's
    doveadm its info lines, both read by the analyzer."""
    verbose = ["-v"] if settings.analyze_log else []
    return [doveadm, *verbose, *imapc_settings(context, settings),
            "backup", "-R", "-u", context.uid, "imapc:"]


def local_status(doveadm: str, uid: str) -> list[str]:
    return [doveadm, "-f", "tab", "mailbox", "status", "-u", uid, STATUS_FIELDS,
            *STATUS_PATTERNS]


def remote_status_imapc(doveadm: str, context: JobContext,
                        settings: SourceSettings) -> list[str]:
    return [doveadm, "-f", "tab", *imapc_settings(context, settings), "-o", "mail=imapc:",
            "mailbox", "status", "-u", context.uid, STATUS_FIELDS, *STATUS_PATTERNS]


def remote_status_doveadm(doveadm: str, context: JobContext,
                          settings: SourceSettings) -> list[str]:
    server = settings.doveadm
    password = _setting("doveadm_password", server.password) if server.password else []
    return [doveadm, "-f", "tab", *password, "mailbox", "status", "-u", context.ruid,
            "-S", f"{server.host}:{server.port}", STATUS_FIELDS, *STATUS_PATTERNS]


def metacache(doveadm: str, action: str, uid: str) -> list[str]:
    return [doveadm, "metacache", action, "-u", uid]


def user_home(doveadm: str, uid: str) -> list[str]:
    return [doveadm, "user", "-f", "home", uid]


def mailbox_path(doveadm: str, uid: str, mailbox: str = "INBOX") -> list[str]:
    return [doveadm, "mailbox", "path", "-u", uid, mailbox]


# ---------------------------------------------------------------- secrets out of argv

DOVECOT_CONFIG = "/etc/dovecot/dovecot.conf"
DMF_SETTING_ENV = "DMF_SETTING_"


class SecretInArgvError(ConfigError):
    """A secret sits in an argv item that no channel can carry (a misconfiguration: the job
    fails); the message names no value."""


def is_dovecot(program: str) -> bool:
    """Dovecot's binary is recognised by its name (`doveadm`, `/usr/bin/doveadm`, `doveadm-2.3`);
    anything else is taken for dmf's own command line."""
    return program.rsplit("/", 1)[-1].startswith("doveadm")


def _dovecot_value(key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise SecretInArgvError(f"setting {key}: a password holding a line break cannot be "
                                "passed to doveadm")
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    *sections, name = key.split("/")
    lines = [f"{section} {{" for section in sections] + [f"{name} = {quoted}"]
    return "\n".join(lines + ["}"] * len(sections))


_VALUED_GLOBALS = ("-o", "-c", "-f", "-i")


class SecretSplit:
    """An argv with its secret `-o key=value` settings (key holding `password`, or value holding
    a secret) taken out of the global options, and how they travel instead:
    - Dovecot's doveadm: a configuration text (`!include` of the configuration it would have
      read, then the settings) that the runner hands over as `-c /dev/fd/N` on an inherited
      memory file: doveadm (through doveconf) reads settings from that file. A pipe does not do:
      doveadm takes a non-regular `-c` path for a config socket.
    - anything else (dmf, scripts): environment variables `DMF_SETTING_<KEY>` (key upper-cased,
      `/` and `-` as `_`), which dmf's settings layer reads like `-o KEY=value`.
    A secret anywhere else in argv is refused (SecretInArgvError, naming no value).
    """

    def __init__(self, argv: list[str], secrets: Iterable[str]) -> None:
        hidden = [secret for secret in secrets if secret]
        self.dovecot = bool(argv) and is_dovecot(argv[0])
        self.settings: dict[str, str] = {}
        self.include: str | None = None
        kept = argv[:1]
        position = 1
        while position < len(argv) and argv[position].startswith("-"):
            item = argv[position]
            value = argv[position + 1] if position + 1 < len(argv) else None
            if item not in _VALUED_GLOBALS or value is None:
                kept.append(item)
                position += 1
                continue
            position += 2
            key, _, setting = value.partition("=")
            if item == "-o" and ("password" in key.lower()
                                 or any(secret in setting for secret in hidden)):
                self.settings[key] = setting
            elif item == "-c" and self.dovecot:
                self.include = value
            else:
                kept += [item, value]
        kept += argv[position:]
        if self.include is not None and not self.config_text:
            kept[1:1] = ["-c", self.include]
        for index, item in enumerate(kept):
            if any(secret in item for secret in hidden):
                raise SecretInArgvError(
                    f"argv item {index} of {kept[0]} would carry a password: only a global "
                    "`-o key=value` setting can take one")
        self.argv = kept

    @property
    def env(self) -> dict[str, str]:
        if self.dovecot:
            return {}
        return {DMF_SETTING_ENV + key.upper().replace("/", "_").replace("-", "_"): value
                for key, value in self.settings.items()}

    @property
    def config_text(self) -> str | None:
        """Dovecot configuration carrying the secrets, or None when none are needed."""
        if not self.dovecot or not self.settings:
            return None
        include = (f"!include {self.include}" if self.include is not None
                   else f"!include_try {DOVECOT_CONFIG}")
        return "\n".join([include, *(_dovecot_value(key, value)
                                     for key, value in self.settings.items())]) + "\n"
