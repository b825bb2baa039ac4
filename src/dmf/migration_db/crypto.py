"""AES-256-GCM wrapping of source passwords, as the scheduler stores them and the worker reads them.

A wrapped password is (ciphertext + tag, IV, key name), the first two base64. The IV is 96 random
bits per wrap. The associated data binds the ciphertext to its key name and to the user it
belongs to (target, source, uid), so a ciphertext copied onto another user's job, or relabelled
with another key name, fails to unwrap instead of leaking a password to the wrong mailbox.
"""

from __future__ import annotations

import base64
import binascii
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dmf.errors import ConfigError, NotPossibleError
from dmf.migration_db.records import WrappedPassword

KEY_BYTES = 32
IV_BYTES = 12


class MissingKeyError(ConfigError):
    """No storage key of the job's key name is configured, or its file cannot be read (exit 78)."""


class WrongKeyError(NotPossibleError):
    """The stored password does not decrypt with the named key: another key of the same name,
    or data altered or copied from another user (exit 65)."""


def wrap(password: str, key_name: str, key: bytes, *, target: str, source: str,
         uid: str) -> WrappedPassword:
    """Encrypt a source password for the user (target, source, uid) with the named key."""
    _check_key(key_name, key)
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(key).encrypt(iv, password.encode("utf-8"),
                                 _associated_data(key_name, target, source, uid))
    return WrappedPassword(base64.b64encode(sealed).decode("ascii"),
                           base64.b64encode(iv).decode("ascii"), key_name)


def unwrap(wrapped: WrappedPassword, key: bytes, *, target: str, source: str, uid: str) -> str:
    """The clear password. WrongKeyError (naming the key, never a secret) if it does not
    authenticate with this key and user."""
    _check_key(wrapped.key_name, key)
    failure = WrongKeyError(
        f"cannot unwrap the source password with storage key {wrapped.key_name!r}: "
        "wrong key or altered data"
    )
    try:
        sealed = base64.b64decode(wrapped.ciphertext, validate=True)
        iv = base64.b64decode(wrapped.iv, validate=True)
    except (binascii.Error, ValueError):
        raise failure from None
    if len(iv) != IV_BYTES:
        raise failure
    try:
        clear = AESGCM(key).decrypt(iv, sealed,
                                    _associated_data(wrapped.key_name, target, source, uid))
    except InvalidTag:
        raise failure from None
    return clear.decode("utf-8")


def _associated_data(key_name: str, target: str, source: str, uid: str) -> bytes:
    # JSON keeps the fields unambiguous whatever characters they hold.
    return json.dumps(["dmf-password-v1", key_name, target, source, uid]).encode("utf-8")


def _check_key(key_name: str, key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise MissingKeyError(f"storage key {key_name!r} is not a 256-bit AES key")
