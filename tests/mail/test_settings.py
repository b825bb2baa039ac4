"""The -c FILE / -o settings: Dovecot's syntax, userdb sections, one-line errors (exit 78)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmf.errors import ConfigError
from dmf.mail.settings import UserdbSettings, load_settings, parse_config

DOVECOT_LIKE = """\
# a dovecot.conf holds far more than dmf needs
mail_location = maildir:~/Maildir   # trailing comment
mail_uid = vmail
protocols = imap
passdb {
  driver = passwd-file
  args = /etc/ignored
}
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \\Sent
  }
}
userdb {
  driver = passwd-file
  args = username_format=%u /etc/dmf/users
}
userdb {
  driver = static
  args = "uid=vmail gid=vmail home=/srv/mail/%d/%n"
}
"""


def test_dovecot_config_yields_location_and_userdbs_in_order() -> None:
    settings = parse_config(DOVECOT_LIKE)
    assert settings.mail_location == "maildir:~/Maildir"
    assert settings.get("mail_uid") == "vmail"
    assert settings.userdbs == (
        UserdbSettings("passwd-file", "username_format=%u /etc/dmf/users"),
        UserdbSettings("static", "uid=vmail gid=vmail home=/srv/mail/%d/%n"),
    )
    # keys inside other sections do not leak to the top level
    assert settings.get("inbox") is None and settings.get("special_use") is None


@pytest.mark.parametrize("text, named", [
    ("mail_location maildir:/x\n", "line 1"),
    ("userdb {\n driver = ldap\n}\n", "ldap"),
    ("userdb {\n driver = static\n", "not closed"),
    ("}\n", "line 1"),
    ("!include other.conf\n", "!include"),
])
def test_bad_config_is_one_config_error_naming_the_problem(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="dmf.conf")
    assert named in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 78


def test_overrides_win_and_mail_is_an_alias_of_mail_location(tmp_path: Path) -> None:
    config = tmp_path / "dmf.conf"
    config.write_text("mail_location = maildir:/from/file\nmail_home = /home/%u\n")
    settings = load_settings(str(config), [("mail", "maildir:/from/o")])
    assert settings.mail_location == "maildir:/from/o"
    assert settings.get("mail_home") == "/home/%u"
    later = load_settings(str(config), [("mail", "maildir:/a"), ("mail_location", "maildir:/b")])
    assert later.mail_location == "maildir:/b"


@pytest.mark.parametrize("key, value", [("Mail Location", "x"), ("", "x"), ("mail_uid", "")])
def test_bad_override_is_a_config_error(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match="Invalid -o parameter"):
        load_settings(None, [(key, value)])


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.conf"):
        load_settings(str(tmp_path / "nope.conf"))


def test_environment_settings_sit_between_the_file_and_o(tmp_path: Path) -> None:
    """The worker passes passwords as DMF_SETTING_* so they never show in a child's argv."""
    config = tmp_path / "dmf.conf"
    config.write_text("imapc_host = file.example\nimapc_user = file-user\n")
    environ = {"DMF_SETTING_IMAPC_PASSWORD": "s3cret; $(x)",
               "DMF_SETTING_IMAPC_HOST": "env.example",
               "DMF_SETTING_": "ignored", "OTHER": "ignored"}
    settings = load_settings(str(config), [("imapc_host", "o.example")], environ=environ)
    assert settings.get("imapc_password") == "s3cret; $(x)"
    assert settings.get("imapc_host") == "o.example"
    assert settings.get("imapc_user") == "file-user"
    assert load_settings(str(config), environ=environ).get("imapc_host") == "env.example"
