"""What every mail command does first: read the settings and userdb, open a user's store."""

from __future__ import annotations

from dataclasses import dataclass

import click

from dmf.cli.context import GlobalOptions
from dmf.cli.mail_user import MailUser, default_user, lookup_user
from dmf.errors import ConfigError
from dmf.mail.settings import MailSettings, load_settings
from dmf.mail.storage import Storage
from dmf.mail.userdb import UserdbChain, userdb_from_settings


@dataclass(frozen=True, slots=True)
class Session:
    options: GlobalOptions
    settings: MailSettings
    userdb: UserdbChain


def start(ctx: click.Context) -> Session:
    """Settings from -c and -o (validated now, so a typo fails before any mail is touched)."""
    root = ctx.find_root().obj
    options = root if isinstance(root, GlobalOptions) else GlobalOptions()
    settings = load_settings(options.config_file, options.settings)
    return Session(options=options, settings=settings, userdb=userdb_from_settings(settings))


def command_user(session: Session, user: str | None) -> MailUser:
    """The user of a single-user command: `-u USER` (must exist in a configured userdb), else
    $USER."""
    name, explicit = (user, True) if user is not None else (default_user(), False)
    return lookup_user(session.settings, session.userdb, name, explicit=explicit)


def open_store(location: str | None, *, user: str, home: str | None,
               owner: tuple[int, int] | None = None, create: bool = False) -> Storage:
    if not location:
        raise ConfigError("mail_location not set: use -o mail_location=maildir:PATH, a "
                          "userdb mail field, or mail_location in -c FILE")
    from dmf.mail.location import open_storage

    return open_storage(location, user=user, home=home, owner=owner, create=create)


def display_name(name: str, storage: Storage) -> str:
    """A "/"-separated dmf name as the user sees it, with the store's separator."""
    return name if storage.separator == "/" else name.replace("/", storage.separator)


def internal_name(name: str, storage: Storage) -> str:
    return name if storage.separator == "/" else name.replace(storage.separator, "/")
