"""The common command format rendered to argv, the shown form, the default commands, and how
secrets are split out of argv."""

from __future__ import annotations

import pytest

from dmf.worker.commands import (
    SecretInArgvError,
    SecretSplit,
    default_migration,
    render,
    shown,
)
from dmf.worker.source_settings import CommandSpec, SourceSettings
from tests.worker.scripts.job_harness import make_context

REMOTE_COMMAND = CommandSpec.model_validate({
    "name": "doveadm",
    "flags": "-D -v",
    "options": [{"name": "-f", "value": "tab"}, {"name": "-o", "value": "imapc_user=%{mdb:ruid}"},
                {"name": "-o", "value": "mail=imapc:"}],
    "sub-command": {"name": "mailbox status", "flags": ["-t"],
                    "arguments": ["messages vsize", "INBOX/*", "INBOX", "*"],
                    "options": [{"name": "-u", "value": "%{mdb:uid}"}]}})


def expand(text: str) -> str:
    return text.replace("%{mdb:ruid}", "old user").replace("%{mdb:uid}", "u1")


def test_render_order() -> None:
    assert render(REMOTE_COMMAND, expand) == [
        "doveadm", "-D", "-v", "-f", "tab", "-o", "imapc_user=old user", "-o", "mail=imapc:",
        "mailbox", "status", "-t", "-u", "u1", "messages vsize", "INBOX/*", "INBOX", "*"]


def test_render_plain_command_with_string_argument() -> None:
    spec = CommandSpec.model_validate({"name": "/opt/lock.sh", "arguments": "one arg",
                                       "options": [{"name": "--force"}]})
    assert render(spec, expand) == ["/opt/lock.sh", "--force", "one arg"]


def test_shown_quotes_and_hides() -> None:
    argv = ["doveadm", "-o", "imapc_password=s3cr3t", "mailbox", "status", "messages vsize",
            'a"b', "INBOX/*", ""]
    assert shown(argv, {"s3cr3t"}) == ('doveadm -o imapc_password=<hidden> mailbox status '
                                       '"messages vsize" "a\\"b" INBOX/* ""')


def test_shown_hides_longest_secret_first() -> None:
    assert shown(["x=abcd"], {"ab", "abcd"}) == "x=<hidden>"


def test_default_migration_command() -> None:
    argv = default_migration("dmf", make_context(source_password="pw"), SourceSettings())
    assert argv == ["dmf", "-v", "-o", "imapc_host=imap.old.example", "-o", "imapc_port=143",
                    "-o", "imapc_ssl=no", "-o", "imapc_user=olduser1", "-o", "imapc_password=pw",
                    "backup", "-R", "-u", "user1", "imapc:"]


def test_default_migration_falls_back_to_configured_imapc() -> None:
    settings = SourceSettings.model_validate({
        "analyze-log": False,
        "imapc": {"host": "conf.host", "port": 993, "master-user": "admin",
                  "master-password": "mpw", "session-properties": {"imapc_features": "modseq"}}})
    context = make_context(source_host=None, source_port=None, imapc_ssl=None,
                           source_password=None)
    assert default_migration("/usr/bin/doveadm", context, settings) == [
        "/usr/bin/doveadm", "-o", "imapc_host=conf.host", "-o", "imapc_port=993",
        "-o", "imapc_user=olduser1", "-o", "imapc_master_user=admin", "-o", "imapc_password=mpw",
        "-o", "imapc_features=modseq", "backup", "-R", "-u", "user1", "imapc:"]


def test_split_for_dmf_uses_environment() -> None:
    split = SecretSplit(["dmf", "-v", "-o", "imapc_password=pw", "-o", "plugin/x-password=q",
                         "-o", "imapc_host=h", "backup", "-R", "imapc:"], {"pw", "q"})
    assert split.argv == ["dmf", "-v", "-o", "imapc_host=h", "backup", "-R", "imapc:"]
    assert split.env == {"DMF_SETTING_IMAPC_PASSWORD": "pw", "DMF_SETTING_PLUGIN_X_PASSWORD": "q"}
    assert split.config_text is None


def test_split_for_doveadm_uses_config_including_given_config() -> None:
    split = SecretSplit(["/usr/bin/doveadm", "-c", "/etc/alt.conf", "-o", "imapc_password=p\"w",
                         "-o", "plugin/obox_pass=secret", "backup", "imapc:"], {'p"w', "secret"})
    assert split.argv == ["/usr/bin/doveadm", "backup", "imapc:"]
    assert split.env == {}
    assert split.config_text == ('!include /etc/alt.conf\nimapc_password = "p\\"w"\n'
                                 'plugin {\nobox_pass = "secret"\n}\n')


def test_split_keeps_config_path_without_secrets() -> None:
    split = SecretSplit(["doveadm", "-c", "/etc/alt.conf", "backup", "imapc:"], set())
    assert split.argv == ["doveadm", "-c", "/etc/alt.conf", "backup", "imapc:"]
    assert split.config_text is None


@pytest.mark.parametrize("argv", [
    ["doveadm", "backup", "-u", "pw", "imapc:"],
    ["doveadm", "backup", "-o", "imapc_password=pw"],   # -o after the sub-command: not global
    ["/opt/notify.sh", "--password", "pw"],
])
def test_secret_elsewhere_is_refused(argv: list[str]) -> None:
    with pytest.raises(SecretInArgvError) as caught:
        SecretSplit(argv, {"pw"})
    assert "pw" not in str(caught.value).replace("password", "")


def test_line_break_in_doveadm_secret_refused() -> None:
    with pytest.raises(SecretInArgvError, match="line break"):
        _ = SecretSplit(["doveadm", "-o", "imapc_password=a\nb", "backup"], {"a\nb"}).config_text
