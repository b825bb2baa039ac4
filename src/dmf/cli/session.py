"""What every mail command does first: read the settings and userdb, open a user's store."""

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from dmf.cli.context import GlobalOptions
from dmf.cli.mail_user import MailUser, lookup_user, user_names
from dmf.cli.run import report
from dmf.errors import EXIT_OK, ConfigError, UnknownUserError
from dmf.mail.settings import MailSettings, load_settings
from dmf.mail.storage import Storage
from dmf.mail.userdb import UserdbChain, userdb_from_settings

if TYPE_CHECKING:  # the printers are imported by the commands that print
    from dmf.cli.formatters import Printer


class Session(NamedTuple):
    options: GlobalOptions
    settings: MailSettings
    userdb: UserdbChain


def start(options: GlobalOptions) -> Session:
    """Settings from -c and -o (validated now, so a typo fails before any mail is touched)."""
    settings = load_settings(options.config_file, options.settings)
    return Session(options=options, settings=settings, userdb=userdb_from_settings(settings))


def open_store(location: str | None, mail_user: MailUser, *,
               owner: tuple[int, int] | None = None, create: bool = False) -> Storage:
    """The store at `location` (the user's own or another), opened as `mail_user`'s."""
    from dmf.mail.location import open_storage

    return open_storage(require_location(location), user=mail_user.name, home=mail_user.home,
                        owner=owner, create=create, durability=mail_user.durability)


def require_location(location: str | None) -> str:
    if not location:
        raise ConfigError("mail_location not set: use -o mail_location=maildir:PATH, a "
                          "userdb mail field, or mail_location in -c FILE")
    return location


def display_name(name: str, storage: Storage) -> str:
    """A "/"-separated dmf name as the user sees it, with the store's separator."""
    return name if storage.separator == "/" else name.replace("/", storage.separator)


def internal_name(name: str, storage: Storage) -> str:
    return name if storage.separator == "/" else name.replace(storage.separator, "/")


def run_per_user(session: Session, *, user: str | None, all_users: bool,
                 users_file: str | None, run: Callable[[MailUser], int],
                 prefix: str | None = None) -> int:
    """Run a command for each user of -u / -A / -F (or $USER), as doveadm does: one user
    failing is reported and the others still run; with -A / -F a user the userdb does not
    know is skipped with an Info line, not an error. Returns the exit code: the first
    failure's, else 2 if a user must run again, else 0."""
    exit_code = EXIT_OK
    for name, explicit in user_names(session.settings, session.userdb, user=user,
                                     all_users=all_users, users_file=users_file):
        label = prefix.format(user=name) if prefix else None
        try:
            code = run(lookup_user(session.settings, session.userdb, name, explicit=explicit))
        except UnknownUserError as exc:
            if user is None:  # -A / -F
                sys.stderr.write(f"{label or f'dmf({name})'}: Info: User no longer exists, "
                                 "skipping\n")
                continue
            code = report(exc, prefix=label, debug=session.options.debug)
        except Exception as exc:  # noqa: BLE001 - one user failing must not stop the others
            code = report(exc, prefix=label, debug=session.options.debug)
        if code != EXIT_OK and exit_code in (EXIT_OK, 2):
            exit_code = code
    return exit_code


def print_per_user(session: Session, printer: "Printer", *, user: str | None, all_users: bool,
                   users_file: str | None, run: Callable[[MailUser], int]) -> int:
    """The whole run of an inspection command after its set-up: `run_per_user`, then the
    printer's output finished (also when a user failed: the others' rows are still owed);
    returns the exit code of `run_per_user`."""
    exit_code = run_per_user(session, user=user, all_users=all_users, users_file=users_file,
                             run=run)
    printer.flush()
    return exit_code


def open_user_store(mail_user: MailUser, *, create_missing: bool) -> Storage | None:
    """The user's store for an inspection command. Dovecot treats a mail location whose
    directory does not exist yet (a user who never received mail) as an empty store: None
    then, or with create_missing, the store created as Dovecot creates it on first use,
    owned as the user's mail would be."""
    from dmf.mail.location import storage_exists

    location = require_location(mail_user.location)
    if storage_exists(location, user=mail_user.name, home=mail_user.home):
        return open_store(location, mail_user)
    if not create_missing:
        return None
    return open_store(location, mail_user, owner=new_mail_owner(mail_user, location),
                      create=True)


def new_mail_owner(mail_user: MailUser, location: str) -> tuple[int, int] | None:
    """Whom mail written to `location` belongs to: the user's configured owner, else, run as
    root, the owner of the tree the location sits in (never root)."""
    if mail_user.owner is None and os.geteuid() == 0:
        return parent_owner(destination_root(location, mail_user.name, mail_user.home))
    return mail_user.owner


def destination_root(location: str, user: str, home: str | None) -> str | None:
    """The directory a maildir location names (None for other formats, which open_storage
    refuses with its own error)."""
    if not location.lower().startswith("maildir:"):
        return None
    from dmf.mail.location import parse_maildir

    return parse_maildir(location, user=user, home=home).root


def parent_owner(path: str | None) -> tuple[int, int] | None:
    """The owner of the nearest existing ancestor of `path` (absolute, normalised): new mail
    blends into its tree."""
    if path is None:
        return None
    candidate = os.path.dirname(path)
    while True:
        try:
            info = os.stat(candidate)
        except OSError:
            if candidate == os.path.dirname(candidate):  # "/": nothing above it
                return None
            candidate = os.path.dirname(candidate)
            continue
        return info.st_uid, info.st_gid
