"""Per-source doveadm worker settings: the `dmf.doveadm.source.<name>` subtree of dmf-worker.yml,
and the common command format every configurable command uses.

Defaults are the seed's appendix. Field aliases are the exact YAML keys, unknown keys are errors
(ConfigModel), so a typo such as `analyse-log` names itself at start instead of being ignored.

Resolution (`resolve_source_settings`): a source's own entry is merged over `default` key by key,
recursively through the settings groups (`retry`, `count`, `imapc`, `command`, ...), and the
source wins wherever it says something, including an explicit empty value. Mappings of values
(`retry.code-max`, `command.inject`, ...) merge by key too. A command in the common command format
is one value: a source's `command.sync.sync` replaces the default's whole command, because half of
one command's options spliced into another is never what an administrator meant. Why merge rather
than replace: a source usually differs in one or two keys (its imapc host, a retry count), and
repeating the whole default block per source invites drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from pydantic import Field, field_validator, model_validator

from dmf.service.config_model import ConfigModel

DEFAULT_SOURCE = "default"


def _as_items(value: str | list[str] | None, *, split: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split()) if split else (value,)
    return tuple(value)


class CommandOption(ConfigModel):
    """`{name: -o, value: imapc_host=...}`: rendered as two argv items (one when no value)."""

    name: str
    value: str | None = None


class SubCommand(ConfigModel):
    """The doveadm sub-command: `name` may hold spaces (`mailbox status`: two argv items)."""

    name: str
    flags: str | list[str] | None = None
    options: list[CommandOption] = Field(default_factory=list)
    arguments: str | list[str] | None = None

    @property
    def flag_items(self) -> tuple[str, ...]:
        return _as_items(self.flags, split=True)

    @property
    def argument_items(self) -> tuple[str, ...]:
        """A string is ONE argument (`"messages vsize"` stays one argv item), a list is several."""
        return _as_items(self.arguments, split=False)


class CommandSpec(ConfigModel):
    """The seed's common command format. Rendering (see `worker/commands.py`): name, flags,
    options, arguments, then the sub-command's name words, flags, options and arguments."""

    name: str
    flags: str | list[str] | None = None
    options: list[CommandOption] = Field(default_factory=list)
    arguments: str | list[str] | None = None
    sub_command: SubCommand | None = Field(default=None, alias="sub-command")

    @model_validator(mode="after")
    def _root_arguments_exclude_sub_command(self) -> CommandSpec:
        if self.sub_command is not None and self.arguments is not None:
            raise ValueError("arguments: give them to sub-command, not to the root command "
                             "when a sub-command is configured")
        return self

    @property
    def flag_items(self) -> tuple[str, ...]:
        return _as_items(self.flags, split=True)

    @property
    def argument_items(self) -> tuple[str, ...]:
        return _as_items(self.arguments, split=False)


class DirectorSettings(ConfigModel):
    enabled: bool = False
    use_sourcehost: bool = Field(default=False, alias="use-sourcehost")
    move_user: bool = Field(default=False, alias="move-user")


class CountSettings(ConfigModel):
    pre: bool = True
    sync: bool = True
    post: bool = True
    remote: bool = True
    remote_protocol: Literal["imapc", "doveadm"] = Field(default="imapc", alias="remote-protocol")
    remote_command: CommandSpec | None = Field(default=None, alias="remote-command")


class RetrySettings(ConfigModel):
    """Sleeps are milliseconds, as in the seed. `max` counts retries, not attempts."""

    max: int = Field(default=1, ge=0)
    sleep: int = Field(default=5000, ge=0)
    code_max: dict[int, int] | None = Field(default_factory=lambda: {134: 2, 75: 4},
                                            alias="code-max")
    code_sleep: dict[int, int] | None = Field(default_factory=lambda: {75: 15000},
                                              alias="code-sleep")
    debug_mode: bool = Field(default=False, alias="debug-mode")

    @field_validator("code_max", "code_sleep")
    @classmethod
    def _non_negative(cls, value: dict[int, int] | None) -> dict[int, int] | None:
        for code, number in (value or {}).items():
            if number < 0:
                raise ValueError(f"exit code {code}: {number} is negative")
        return value


class HttpSettings(ConfigModel):
    """The doveadm HTTP API (director move user)."""

    url: str | None = None
    username: str | None = None
    password: str | None = None
    director_tag: str | None = Field(default=None, alias="director-tag")
    use_only_tagged: bool = Field(default=False, alias="use-only-tagged")


class DoveadmServerSettings(ConfigModel):
    """A doveadm server of the source platform (remote count over the doveadm protocol)."""

    password: str | None = None
    host: str | None = None
    port: int = 24245


class ImapcSettings(ConfigModel):
    """`session-properties`: extra Dovecot settings (`key: value`) added as `-o key=value` to the
    default migration and imapc remote-count commands."""

    host: str | None = None
    port: int | None = None
    prefix: str | None = None
    master_user: str | None = Field(default=None, alias="master-user")
    master_password: str | None = Field(default=None, alias="master-password")
    session_properties: dict[str, str] | None = Field(default=None, alias="session-properties")


class PhaseCommands(ConfigModel):
    """Commands of one phase. `sync` is the migration command; None means the built-in default."""

    pre: CommandSpec | None = None
    sync: CommandSpec | None = None
    post: CommandSpec | None = None
    failure: CommandSpec | None = None


class CommandSettings(ConfigModel):
    inject: dict[str, str] | None = None
    sync: PhaseCommands = Field(default_factory=PhaseCommands)
    cutover: PhaseCommands = Field(default_factory=PhaseCommands)

    @field_validator("sync", "cutover", mode="before")
    @classmethod
    def _empty_phase(cls, value: Any) -> Any:
        return PhaseCommands() if value is None else value


class FailureFlags(ConfigModel):
    """Steps whose failure fails the job (the migration command always does)."""

    director_use_sourcehost: bool = Field(default=False, alias="director-use-sourcehost")
    director_move_user: bool = Field(default=False, alias="director-move-user")
    pre_migration_command: bool = Field(default=False, alias="pre-migration-command")
    post_migration_command: bool = Field(default=False, alias="post-migration-command")
    copy_imapc_inbox: bool = Field(default=False, alias="copy-imapc-inbox")
    remove_imapc_inbox: bool = Field(default=False, alias="remove-imapc-inbox")
    count_local_pre: bool = Field(default=False, alias="count-local-pre")
    count_local_post: bool = Field(default=False, alias="count-local-post")
    count_remote: bool = Field(default=False, alias="count-remote")
    flush_metacache: bool = Field(default=False, alias="flush-metacache")
    clean_metacache: bool = Field(default=False, alias="clean-metacache")


class FailureFlagsByPhase(ConfigModel):
    """`pre` holds the flags of the pre-sync phase, `cutover` those of the cutover phase."""

    pre: FailureFlags = Field(default_factory=FailureFlags)
    cutover: FailureFlags = Field(default_factory=FailureFlags)

    @field_validator("pre", "cutover", mode="before")
    @classmethod
    def _empty_phase(cls, value: Any) -> Any:
        return FailureFlags() if value is None else value


_GROUPS = ("director", "count", "retry", "http", "doveadm", "imapc", "command", "failure_flags")


class SourceSettings(ConfigModel):
    analyze_log: bool = Field(default=True, alias="analyze-log")
    move_duplicates: bool = Field(default=False, alias="move-duplicates")
    copy_imapc_inbox: bool = Field(default=False, alias="copy-imapc-inbox")
    remove_imapc_path: bool = Field(default=False, alias="remove-imapc-path")
    flush_metacache: bool = Field(default=False, alias="flush-metacache")
    clean_metacache: bool = Field(default=False, alias="clean-metacache")
    fetch_container: bool = Field(default=False, alias="fetch-container")
    container_file: str = Field(default="/etc/dovecot/passwd.container", alias="container-file")
    director: DirectorSettings = Field(default_factory=DirectorSettings)
    count: CountSettings = Field(default_factory=CountSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    doveadm: DoveadmServerSettings = Field(default_factory=DoveadmServerSettings)
    imapc: ImapcSettings = Field(default_factory=ImapcSettings)
    command: CommandSettings = Field(default_factory=CommandSettings)
    failure_flags: FailureFlagsByPhase = Field(default_factory=FailureFlagsByPhase,
                                               alias="failure-flags")

    @field_validator(*_GROUPS, mode="before")
    @classmethod
    def _empty_group(cls, value: Any) -> Any:
        """`imapc:` with nothing under it in YAML is None: it means the group's defaults."""
        return {} if value is None else value


class DoveadmSettings(ConfigModel):
    """`dmf.doveadm`: the doveadm binary and the per-source settings. The path defaults to `dmf`
    so the project's own engine runs; Dovecot's `/usr/bin/doveadm` works there too."""

    path: str = "dmf"
    source: dict[str, SourceSettings] = Field(default_factory=dict)

    @field_validator("source", mode="before")
    @classmethod
    def _empty_sources(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {name: ({} if entry is None else entry) for name, entry in value.items()}


def _merge(base: ConfigModel, override: ConfigModel) -> ConfigModel:
    update: dict[str, Any] = {}
    for name in override.model_fields_set:
        mine, theirs = getattr(base, name), getattr(override, name)
        if isinstance(mine, ConfigModel) and isinstance(theirs, ConfigModel) \
                and not isinstance(theirs, CommandSpec):
            update[name] = _merge(mine, theirs)
        elif isinstance(mine, dict) and isinstance(theirs, dict):
            update[name] = {**mine, **theirs}
        else:
            update[name] = theirs
    return base.model_copy(update=update)


def resolve_source_settings(sources: Mapping[str, SourceSettings], source: str) -> SourceSettings:
    """The settings a job of `source` runs with: its entry merged over `default` (module
    docstring), `default` alone when the source has no entry, the seed defaults when neither."""
    default = sources.get(DEFAULT_SOURCE, SourceSettings())
    own = sources.get(source)
    if own is None or source == DEFAULT_SOURCE:
        return default
    return cast(SourceSettings, _merge(default, own))
