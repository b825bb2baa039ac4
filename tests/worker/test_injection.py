"""Property injection: every mdb and conf key, the chosen order, verbatim metacharacters (through
a real child's argv), unknown keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dmf.errors import ConfigError
from dmf.worker.injection import MDB_KEYS, Injector, md5path, secret_values
from dmf.worker.job_run import run_job
from dmf.worker.source_settings import SourceSettings
from tests.worker.scripts.job_harness import (
    FAKE_DOVEADM,
    PASSWORD,
    FakeDoveadm,
    command,
    make_config,
    make_context,
)

NASTY = ["; rm -rf /tmp/x", "$(touch /tmp/pwned)", "`id`", "'single'", '"double"', "a b\tc",
         "x' OR '1'='1", "%{conf:imapc_master_password}", "%{mdb:uid}", "\\n$HOME*?"]

SETTINGS = SourceSettings.model_validate({
    "imapc": {"host": "imap.conf", "port": 993, "prefix": "INBOX.", "master-user": "admin",
              "master-password": "m%{mdb:uid}pw"},
    "command": {"inject": {"tenant": "blue", "home": "/data/%{mdb:2chrruid}/%{mdb:ruid}",
                           "imapc_host": "custom.host", "api_password": "apipw"}}})


def injector(**fields: object) -> Injector:
    return Injector.for_job(make_context(**fields), SETTINGS, container="box7")


def test_every_mdb_key() -> None:
    context = make_context(imapc_options="opt1", exclude="Trash", email=None)
    inject = Injector.for_job(context, SETTINGS, container="box7")
    expected = {
        "md5path": md5path("user1"), "2chrruid": "ol", "container": "box7", "uid": "user1",
        "ruid": "olduser1", "sourcehost": "imap.old.example", "source": "POD_1",
        "sourcepasswd": PASSWORD, "imapcoptions": "opt1", "email": "", "sourceport": "143",
        "imapc_ssl": "no", "exclude": "Trash"}
    assert set(expected) == set(MDB_KEYS)
    for key, value in expected.items():
        assert inject.expand(f"<%{{mdb:{key}}}>") == f"<{value}>"


def test_derived_keys() -> None:
    digest = hashlib.md5(b"user1").hexdigest()
    assert md5path("user1") == f"{digest[:2]}/{digest[2:4]}/user1"
    assert injector(ruid="x").expand("%{mdb:2chrruid}") == "x"


def test_every_conf_key_and_custom_keys() -> None:
    inject = injector()
    assert inject.expand("%{conf:imapc_port} %{conf:imapc_prefix} %{conf:imapc_master_user}") \
        == "993 INBOX. admin"
    assert inject.expand("%{conf:tenant}") == "blue"
    assert inject.expand("%{conf:api_password}") == "apipw"


def test_order_inject_then_imapc_then_user() -> None:
    inject = injector()
    # a custom key overrides the imapc key of the same name (custom comes first)
    assert inject.expand("%{conf:imapc_host}") == "custom.host"
    # configuration may refer to the job: user properties come last
    assert inject.expand("%{conf:home}") == "/data/ol/olduser1"


def test_job_values_are_never_expanded() -> None:
    inject = injector(uid="%{conf:imapc_master_password}", ruid="%{mdb:sourcepasswd}")
    assert inject.expand("%{mdb:uid}") == "%{conf:imapc_master_password}"
    assert inject.expand("%{mdb:ruid}|%{mdb:2chrruid}") == "%{mdb:sourcepasswd}|%{"


def test_secret_values_are_not_rescanned() -> None:
    # the master password holds a reference: it is injected as it is, not expanded
    assert injector().expand("%{conf:imapc_master_password}") == "m%{mdb:uid}pw"


@pytest.mark.parametrize("text", ["%{mdb:homedir}", "%{conf:nope}", "%{mdb:}"])
def test_unknown_key_is_a_config_error_naming_it(text: str) -> None:
    with pytest.raises(ConfigError, match=text.replace("{", r"\{").replace("}", r"\}")):
        injector().expand(f"x {text} y")


def test_dovecot_variables_pass_through() -> None:
    text = "mail_location=maildir:%{home}/Maildir:INDEX=%{env:IDX}/%u"
    assert injector().expand(text) == text


def test_secret_values_collected() -> None:
    assert secret_values(make_context(), SETTINGS) == {PASSWORD, "m%{mdb:uid}pw", "apipw"}


SUBMITTED = ("uid", "ruid", "email", "imapcoptions", "exclude", "sourcehost", "source")
FIELD_OF = {"imapcoptions": "imapc_options", "sourcehost": "source_host"}


async def test_metacharacters_reach_argv_verbatim(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDoveadm(tmp_path, monkeypatch)
    arguments = ["pre", *(f"--{key}=%{{mdb:{key}}}" for key in SUBMITTED), "%{mdb:uid}"]
    source = {"command": {"sync": {"pre": command(*arguments)}}}
    for nasty in NASTY:
        fields = {FIELD_OF.get(key, key): nasty for key in SUBMITTED}
        outcome = await run_job(make_context(**fields, source_password=None),
                                make_config(FAKE_DOVEADM, source))
        assert outcome.success, outcome.details
    pre_calls = [words for words in fake.words() if words[0] == "pre"]
    assert pre_calls == [["pre", *(f"--{key}={nasty}" for key in SUBMITTED), nasty]
                         for nasty in NASTY]
    backups = [words for words in fake.words() if "backup" in words]
    assert [words[-2] for words in backups] == NASTY  # `-u <uid> imapc:`
    assert [f"imapc_user={nasty}" in words for words, nasty in zip(backups, NASTY,
                                                                   strict=True)] == \
        [True] * len(NASTY)
    assert not Path("/tmp/pwned").exists()
