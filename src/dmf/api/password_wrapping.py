"""Wrapping submitted source passwords with the scheduler's named AES-256 key
(`dmf.scheduler.crypto`), in the form the worker unwraps with its `storageKeys` of that name.

The key is loaded once, when the app is built, so a missing or unreadable key stops the
scheduler at start rather than failing submissions one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from dmf.migration_db.crypto import wrap
from dmf.migration_db.keys import StorageKeySource, load_storage_key
from dmf.migration_db.records import WrappedPassword
from dmf.service.scheduler_config import WrappingKeySettings


class PasswordWrapper(Protocol):
    def wrap(self, password: str, *, target: str, source: str, uid: str) -> WrappedPassword: ...


@dataclass(frozen=True)
class NamedKeyWrapper:
    key_name: str
    key: bytes = field(repr=False)

    def wrap(self, password: str, *, target: str, source: str, uid: str) -> WrappedPassword:
        return wrap(password, self.key_name, self.key, target=target, source=source, uid=uid)


def load_password_wrapper(settings: WrappingKeySettings | None) -> NamedKeyWrapper | None:
    """None when no key is configured; ConfigError (MissingKeyError) when it cannot be read."""
    if settings is None:
        return None
    secret = settings.secret.get_secret_value() if settings.secret is not None else None
    key = load_storage_key(settings.key_name, StorageKeySource(settings.file, secret))
    return NamedKeyWrapper(settings.key_name, key)
