"""Storage keys from `dmf.worker.crypto.storageKeys`, loaded on first use.

Each entry names a key and says where it is:
- `file: /path`: a plain file holding the 32 key bytes, either raw (exactly 32 bytes) or as
  base64 text (surrounding whitespace ignored). `secret` is not used.
- `file: keystore:/path.p12`, `secret: <store password>`: the secret key whose alias is the
  entry's name (aliases compare case-insensitively: keytool lowercases them) in a PKCS#12
  keystore made by `keytool -genseckey -keyalg AES -keysize 256 -storetype pkcs12`.

`cryptography` does not read PKCS#12 secret bags, so the bag is parsed with asn1crypto and its
PBES2 (PBKDF2-HMAC + AES-CBC) envelope opened with `cryptography`; the store's MAC is checked
first so that a wrong store password gets its own message.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import core, keys, pkcs12
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from dmf.migration_db.crypto import KEY_BYTES, MissingKeyError, unwrap
from dmf.migration_db.records import JobRecord

KEYSTORE_PREFIX = "keystore:"
SECRET_BAG = "secret_bag"
_PRF_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
               "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_CBC_KEY_BYTES = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}


@dataclass(frozen=True)
class StorageKeySource:
    """One `storageKeys` entry: `file` and the keystore password `secret` (hidden in repr)."""

    file: str
    secret: str | None = field(default=None, repr=False)


class KeyRing:
    """The worker's named storage keys; each is read once, when a job first needs it."""

    def __init__(self, sources: Mapping[str, StorageKeySource]) -> None:
        self._sources = dict(sources)
        self._loaded: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, name: str) -> bytes:
        """The 32 key bytes. MissingKeyError naming the key (and the file, never the secret)
        when it is not configured or cannot be read."""
        with self._lock:
            if name not in self._loaded:
                source = self._sources.get(name)
                if source is None:
                    raise MissingKeyError(
                        f"no storage key named {name!r} in dmf.worker.crypto.storageKeys")
                self._loaded[name] = load_storage_key(name, source)
            return self._loaded[name]

    def unwrap_job_password(self, job: JobRecord) -> str | None:
        """The job's clear source password, or None when the job carries none. Raises
        MissingKeyError / WrongKeyError for that job only."""
        if job.password is None:
            return None
        return unwrap(job.password, self.key(job.password.key_name),
                      target=job.target, source=job.source, uid=job.uid)


def load_storage_key(name: str, source: StorageKeySource) -> bytes:
    """Read one configured key (see the module doc for the two forms)."""
    if source.file.startswith(KEYSTORE_PREFIX):
        path = Path(source.file[len(KEYSTORE_PREFIX):])
        if source.secret is None:
            raise MissingKeyError(f"storage key {name!r}: keystore {path} needs a secret")
        return load_keystore_key(path, source.secret, name)
    return load_key_file(name, Path(source.file))


def load_key_file(name: str, path: Path) -> bytes:
    """Raw 32 bytes, or base64 text of 32 bytes."""
    content = _read(name, path)
    if len(content) == KEY_BYTES:
        return content
    try:
        decoded = base64.b64decode(content.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != KEY_BYTES:
        raise MissingKeyError(
            f"storage key {name!r}: {path} holds neither 32 raw bytes nor base64 of 32 bytes")
    return decoded


def load_keystore_key(path: Path, store_password: str, alias: str) -> bytes:
    """The AES key stored under `alias` in a PKCS#12 keystore."""
    content = _read(alias, path)
    password = store_password.encode("utf-8")
    try:
        crypto_pkcs12.load_key_and_certificates(content, password)  # verifies the MAC
    except ValueError:
        raise MissingKeyError(
            f"storage key {alias!r}: {path} is not a PKCS#12 keystore or its secret is wrong"
        ) from None
    for friendly_name, encrypted in _secret_bags(pkcs12.Pfx.load(content)):
        if friendly_name.lower() == alias.lower():
            key = _decrypt_pbes2(encrypted, password)
            if len(key) != KEY_BYTES:
                raise MissingKeyError(
                    f"storage key {alias!r} in {path} is not a 256-bit AES key")
            return key
    raise MissingKeyError(f"keystore {path} has no secret key with alias {alias!r}")


def _secret_bags(pfx: pkcs12.Pfx) -> list[tuple[str, keys.EncryptedPrivateKeyInfo]]:
    found = []
    for content_info in pfx.authenticated_safe:
        if content_info["content_type"].native != "data":
            continue  # keytool puts certificates (none here) in encrypted_data
        for bag in pkcs12.SafeContents.load(content_info["content"].native):
            if bag["bag_id"].native != SECRET_BAG:
                continue
            names = [value for attribute in bag["bag_attributes"].native
                     if attribute["type"] == "friendly_name" for value in attribute["values"]]
            secret = bag["bag_value"]["secret_value"]
            encrypted = keys.EncryptedPrivateKeyInfo.load(secret.native)
            found.extend((name, encrypted) for name in names)
    return found


def _decrypt_pbes2(encrypted: keys.EncryptedPrivateKeyInfo, password: bytes) -> bytes:
    algorithm = encrypted["encryption_algorithm"]
    if algorithm["algorithm"].native != "pbes2":
        raise MissingKeyError(
            f"keystore entry uses {algorithm['algorithm'].native}, dmf reads PBES2 entries")
    parameters = algorithm["parameters"]
    kdf = parameters["key_derivation_func"]["parameters"]
    scheme = parameters["encryption_scheme"]
    cipher_name = scheme["algorithm"].native
    prf = kdf["prf"]["algorithm"].native
    if cipher_name not in _CBC_KEY_BYTES or prf not in _PRF_HASHES:
        raise MissingKeyError(f"keystore entry uses {cipher_name}/{prf}, which dmf cannot read")
    derived = PBKDF2HMAC(
        algorithm=_PRF_HASHES[prf](), length=_CBC_KEY_BYTES[cipher_name],
        salt=kdf["salt"].native, iterations=kdf["iteration_count"].native,
    ).derive(password)
    decryptor = Cipher(algorithms.AES(derived), modes.CBC(scheme["parameters"].native)).decryptor()
    padded = decryptor.update(encrypted["encrypted_data"].native) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        # PrivateKeyInfo (version, algorithm, privateKey); asn1crypto's typed class rejects the
        # AES algorithm identifier, so read the third field as a plain OCTET STRING.
        info = core.Sequence.load(plain)
        return bytes(core.OctetString.load(info[2].dump()).native)
    except ValueError:
        raise MissingKeyError("keystore entry does not decrypt with the keystore secret") from None


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise MissingKeyError(
            f"storage key {name!r}: cannot read {path}: {error.strerror}") from None
