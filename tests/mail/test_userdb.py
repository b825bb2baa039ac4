"""Static and passwd-file userdbs read as Dovecot reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmf.errors import ConfigError, NotPossibleError
from dmf.mail.settings import parse_config
from dmf.mail.userdb import (
    PasswdFileUserdb,
    StaticUserdb,
    expand_variables,
    parse_passwd_file_line,
    userdb_from_settings,
)

PASSWD_FILE = (
    "# comment\n"
    "alice:{PLAIN}pw:5000:5000::/home/alice::userdb_mail=maildir:~/Maildir:LAYOUT=fs "
    "userdb_mail_replica=maildir:/backup/%u nopass\n"
) + """\
bob:{PLAIN}pw:5001:5001::/home/bob
carol:{PLAIN}pw:5002:5002::/home/carol:::maildir:/old/format:INBOX=/x
root:{PLAIN}pw:0:0::/root
nouserdb:{PLAIN}pw
"""


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    path.write_text(PASSWD_FILE)
    return path


def test_passwd_file_fields_and_userdb_extras(users: Path) -> None:
    userdb = PasswdFileUserdb(str(users))
    alice = userdb.lookup("alice")
    assert alice is not None
    assert (alice.uid, alice.gid, alice.home) == (5000, 5000, "/home/alice")
    # only userdb_ extras are userdb fields; colons inside a value survive; %u expands
    assert alice.fields["mail"] == "maildir:~/Maildir:LAYOUT=fs"
    assert alice.fields["mail_replica"] == "maildir:/backup/alice"
    assert "nopass" not in alice.fields
    assert list(alice.fields) == ["uid", "gid", "home", "mail", "mail_replica"]


def test_old_format_mail_field(users: Path) -> None:
    carol = PasswdFileUserdb(str(users)).lookup("carol")
    assert carol is not None and carol.fields["mail"] == "maildir:/old/format:INBOX=/x"


def test_uid_zero_and_password_only_entries_are_not_users(users: Path) -> None:
    userdb = PasswdFileUserdb(str(users))
    assert userdb.lookup("root") is None
    assert userdb.lookup("nouserdb") is None
    assert userdb.lookup("mallory") is None
    assert list(userdb.iterate()) == ["alice", "bob", "carol"]


def test_static_userdb_expands_per_user_and_cannot_iterate() -> None:
    userdb = StaticUserdb("uid=5000 gid=5000 home=/srv/%d/%n mail=maildir:%h/Maildir "
                          "allow_all_users=yes")
    record = userdb.lookup("jo@example.org")
    assert record is not None
    assert record.fields == {"uid": "5000", "gid": "5000", "home": "/srv/example.org/jo",
                             "mail": "maildir:/srv/example.org/jo/Maildir"}
    with pytest.raises(NotPossibleError):
        list(userdb.iterate())


def test_chain_takes_the_first_userdb_that_knows_the_user(users: Path) -> None:
    settings = parse_config(f"userdb {{\n driver = passwd-file\n args = {users}\n}}\n"
                            "userdb {\n driver = static\n args = uid=6000 gid=6000\n}\n")
    chain = userdb_from_settings(settings)
    alice, other = chain.lookup("alice"), chain.lookup("zed")
    assert alice is not None and alice.uid == 5000
    assert other is not None and other.uid == 6000


def test_missing_passwd_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        PasswdFileUserdb(str(tmp_path / "absent")).lookup("alice")


def test_variables() -> None:
    assert expand_variables("%u|%n|%d|%h|%%|%x", "a@b", "/h") == "a@b|a|b|/h|%|%x"
    assert parse_passwd_file_line("#x:y") is None
