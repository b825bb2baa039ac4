"""Per-source settings: the seed's defaults, strict keys, and `default` fallback by merging."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from dmf.worker.source_settings import DoveadmSettings, SourceSettings, resolve_source_settings

SEED_LIKE = """
path: /usr/bin/doveadm
source:
  default:
    analyze-log: true
    count:
      pre: true
      remote-protocol: imapc
      remote-command:
    retry:
      max: 1
      sleep: 5000
      code-max: {134: 2, 75: 4}
      code-sleep: {75: 15000}
      debug-mode: false
    imapc:
      host: imap.old
      port: 993
      master-user: admin
      master-password: masterpw
      session-properties:
    command:
      inject: {tenant: blue, zone: eu}
      sync:
        pre: {name: echo, arguments: [pre, sync, "%{mdb:uid}"]}
        sync:
          name: doveadm
          options:
            - {name: -o, value: "imapc_user=%{mdb:ruid}"}
          sub-command:
            name: backup
            flags: -R
            arguments: "imapc:"
            options: [{name: -u, value: "%{mdb:uid}"}]
      cutover:
        pre:
    failure-flags:
      pre:
      cutover: {post-migration-command: true}
  POD_1:
    retry: {code-max: {75: 1}}
    imapc: {host: imap.pod1}
    command:
      inject: {zone: us}
      sync:
        sync: {name: /opt/sync.sh}
  POD_2:
"""


@pytest.fixture()
def doveadm() -> DoveadmSettings:
    return DoveadmSettings.model_validate(yaml.safe_load(SEED_LIKE))


def test_seed_defaults_without_any_entry() -> None:
    settings = resolve_source_settings({}, "POD_9")
    assert settings.analyze_log and not settings.move_duplicates
    assert settings.retry.max == 1 and settings.retry.sleep == 5000
    assert settings.retry.code_max == {134: 2, 75: 4} and settings.retry.code_sleep == {75: 15000}
    assert settings.count.remote_protocol == "imapc" and settings.count.pre
    assert settings.command.sync.sync is None
    assert DoveadmSettings().path == "dmf"


def test_source_without_entry_uses_default(doveadm: DoveadmSettings) -> None:
    assert resolve_source_settings(doveadm.source, "POD_3") is doveadm.source["default"]


def test_source_entry_merges_over_default_key_by_key(doveadm: DoveadmSettings) -> None:
    pod1 = resolve_source_settings(doveadm.source, "POD_1")
    assert pod1.imapc.host == "imap.pod1"
    assert pod1.imapc.port == 993 and pod1.imapc.master_password == "masterpw"
    assert pod1.retry.code_max == {134: 2, 75: 1}
    assert pod1.retry.code_sleep == {75: 15000}
    assert pod1.command.inject == {"tenant": "blue", "zone": "us"}
    # a command is one value: the source's replaces the default's whole command
    assert pod1.command.sync.sync is not None
    assert pod1.command.sync.sync.name == "/opt/sync.sh"
    assert pod1.command.sync.sync.sub_command is None and pod1.command.sync.sync.options == []
    # untouched commands still come from default
    assert pod1.command.sync.pre is not None and pod1.command.sync.pre.name == "echo"
    assert pod1.failure_flags.cutover.post_migration_command


def test_empty_source_entry_equals_default(doveadm: DoveadmSettings) -> None:
    assert resolve_source_settings(doveadm.source, "POD_2") == doveadm.source["default"]


def test_command_format_parsed(doveadm: DoveadmSettings) -> None:
    sync = doveadm.source["default"].command.sync.sync
    assert sync is not None and sync.sub_command is not None
    assert sync.sub_command.flag_items == ("-R",)
    assert sync.sub_command.argument_items == ("imapc:",)
    assert sync.sub_command.options[0].name == "-u"


@pytest.mark.parametrize(("snippet", "key"), [
    ({"analyse-log": True}, "analyse-log"),
    ({"retry": {"max": "many"}}, "max"),
    ({"retry": {"code-max": {75: -1}}}, "code-max"),
    ({"count": {"remote-protocol": "pop3"}}, "remote-protocol"),
    ({"failure-flags": {"cutover": {"post-command": True}}}, "post-command"),
    ({"command": {"sync": {"sync": {"name": "x", "sub-comand": {"name": "y"}}}}}, "sub-comand"),
    ({"command": {"sync": {"sync": {"name": "x", "arguments": ["a"],
                                    "sub-command": {"name": "y"}}}}}, "arguments"),
])
def test_bad_settings_name_the_key(snippet: dict, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SourceSettings.model_validate(snippet)
    assert key in str(caught.value)
