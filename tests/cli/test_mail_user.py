"""Who a command runs for, where their mail is, and who owns new mail files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmf.cli.mail_user import choose_owner, lookup_user, user_names
from dmf.errors import ConfigError, UnknownUserError, UsageError
from dmf.mail.settings import MailSettings, parse_config
from dmf.mail.userdb import UserdbChain, userdb_from_settings


@pytest.fixture
def userdb(tmp_path: Path) -> tuple[MailSettings, UserdbChain]:
    users = tmp_path / "users"
    users.write_text("ann:x:5001:5002::/home/ann::userdb_mail=maildir:~/Mail\n"
                     "ben:x:5003:5003::/home/ben\n")
    settings = parse_config(f"mail_location = maildir:/srv/%u\nmail_home = /h/%u\n"
                            f"userdb {{\n driver = passwd-file\n args = {users}\n}}\n")
    return settings, userdb_from_settings(settings)


def test_userdb_fields_win_over_settings(userdb: tuple[MailSettings, UserdbChain]) -> None:
    settings, chain = userdb
    ann = lookup_user(settings, chain, "ann", explicit=True, running_as_root=True)
    assert (ann.home, ann.location, ann.owner) == ("/home/ann", "maildir:~/Mail", (5001, 5002))
    ben = lookup_user(settings, chain, "ben", explicit=True, running_as_root=False)
    assert (ben.location, ben.owner) == ("maildir:/srv/%u", None)
    with pytest.raises(UnknownUserError):
        lookup_user(settings, chain, "cat", explicit=True)


def test_environment_user_without_userdb_uses_settings_and_home() -> None:
    settings = parse_config("mail_location = maildir:~/Maildir\n")
    user = lookup_user(settings, UserdbChain([]), "dee", explicit=False,
                       environ={"HOME": "/home/dee"}, running_as_root=False)
    assert (user.home, user.location) == ("/home/dee", "maildir:~/Maildir")


def test_owner_choice() -> None:
    settings = MailSettings(values={"mail_uid": "7000", "mail_gid": "7001"})
    assert choose_owner(settings, {"uid": "5000", "gid": "5000"}, True) == (7000, 7001)
    assert choose_owner(MailSettings(), {"uid": "5000", "gid": "5001"}, True) == (5000, 5001)
    assert choose_owner(MailSettings(), {}, True) is None
    assert choose_owner(settings, {}, False) is None
    assert choose_owner(MailSettings(values={"mail_uid": "root"}), {}, True) == (0, 0)
    with pytest.raises(ConfigError):
        choose_owner(MailSettings(values={"mail_uid": "no-such-user-here"}), {}, True)


def test_user_selection(userdb: tuple[MailSettings, UserdbChain], tmp_path: Path) -> None:
    settings, chain = userdb
    listed = tmp_path / "list"
    listed.write_text("ben\n\nann\textra\n")
    assert list(user_names(settings, chain, user=None, all_users=True,
                           users_file=None)) == [("ann", True), ("ben", True)]
    assert list(user_names(settings, chain, user=None, all_users=False,
                           users_file=str(listed))) == [("ben", True), ("ann", True)]
    with pytest.raises(UsageError):
        list(user_names(settings, chain, user="ann", all_users=True, users_file=None))
