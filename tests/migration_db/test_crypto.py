"""Password wrapping and storage keys: round trips, wrong and missing keys, real keytool stores."""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dmf.migration_db.crypto import MissingKeyError, WrongKeyError, unwrap, wrap
from dmf.migration_db.keys import (
    KeyRing,
    StorageKeySource,
    load_key_file,
    load_keystore_key,
)
from dmf.migration_db.models import JobPhase, JobStatus
from dmf.migration_db.records import JobRecord
from tests.fixtures.services import unavailable

PASSWORD = "pä$$ w'o\"rd; $(id) 📧"
STORE_SECRET = "st0re p@ss'\"word"
OWNER = {"target": "cloud", "source": "POD_1", "uid": "alice"}

JAVA_KEY_DUMP = """
import java.io.FileInputStream;
import java.security.KeyStore;
public class KeyHex {
    public static void main(String[] a) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(new FileInputStream(a[0]), a[1].toCharArray());
        StringBuilder hex = new StringBuilder();
        for (byte b : store.getKey(a[2], a[1].toCharArray()).getEncoded()) {
            hex.append(String.format("%02x", b));
        }
        System.out.println(hex);
    }
}
"""


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PKCS#12 store with AES-256 keys `key1` and `Key2`, made by the JDK's keytool."""
    keytool = shutil.which("keytool")
    if keytool is None:
        unavailable("keytool", "not installed (apt-get install openjdk-17-jre-headless)")
    path = tmp_path_factory.mktemp("keystore") / "keystore.p12"
    for alias in ("key1", "Key2"):
        subprocess.run([keytool, "-genseckey", "-alias", alias, "-keyalg", "AES", "-keysize",
                        "256", "-storetype", "pkcs12", "-storepass", STORE_SECRET, "-keystore",
                        str(path)], check=True, capture_output=True, timeout=60)
    return path


def test_round_trip_with_fresh_iv() -> None:
    key = os.urandom(32)
    first = wrap(PASSWORD, "key1", key, **OWNER)
    second = wrap(PASSWORD, "key1", key, **OWNER)
    assert first.iv != second.iv and first.ciphertext != second.ciphertext
    assert len(base64.b64decode(first.iv)) == 12
    assert PASSWORD not in repr(first)
    assert unwrap(first, key, **OWNER) == PASSWORD


def test_wrong_key_fails_naming_the_key_only() -> None:
    key, other = os.urandom(32), os.urandom(32)
    wrapped = wrap(PASSWORD, "key1", key, **OWNER)
    with pytest.raises(WrongKeyError, match="'key1'") as raised:
        unwrap(wrapped, other, **OWNER)
    message = str(raised.value)
    for secret in (PASSWORD, key.hex(), wrapped.ciphertext):
        assert secret not in message


@pytest.mark.parametrize("change", [
    {"uid": "mallory"}, {"target": "other"}, {"source": "POD_2"},
])
def test_ciphertext_is_bound_to_its_user(change: dict[str, str]) -> None:
    key = os.urandom(32)
    wrapped = wrap(PASSWORD, "key1", key, **OWNER)
    with pytest.raises(WrongKeyError):
        unwrap(wrapped, key, **{**OWNER, **change})


def test_ciphertext_is_bound_to_its_key_name() -> None:
    key = os.urandom(32)
    relabelled = dataclasses.replace(wrap(PASSWORD, "key1", key, **OWNER), key_name="key2")
    with pytest.raises(WrongKeyError):
        unwrap(relabelled, key, **OWNER)


def test_altered_or_garbage_data_fails_cleanly() -> None:
    key = os.urandom(32)
    wrapped = wrap(PASSWORD, "key1", key, **OWNER)
    sealed = bytearray(base64.b64decode(wrapped.ciphertext))
    sealed[0] ^= 1
    for bad in (dataclasses.replace(wrapped, ciphertext=base64.b64encode(sealed).decode()),
                dataclasses.replace(wrapped, iv="not base64!"),
                dataclasses.replace(wrapped, iv=base64.b64encode(b"short").decode())):
        with pytest.raises(WrongKeyError):
            unwrap(bad, key, **OWNER)


def test_key_files_raw_and_base64(tmp_path: Path) -> None:
    key = os.urandom(32)
    (tmp_path / "raw.key").write_bytes(key)
    (tmp_path / "b64.key").write_text(base64.b64encode(key).decode() + "\n")
    assert load_key_file("k", tmp_path / "raw.key") == key
    assert load_key_file("k", tmp_path / "b64.key") == key
    (tmp_path / "short.key").write_bytes(os.urandom(16))
    with pytest.raises(MissingKeyError, match="'k'.*32 raw bytes"):
        load_key_file("k", tmp_path / "short.key")
    with pytest.raises(MissingKeyError, match="cannot read"):
        load_key_file("k", tmp_path / "absent.key")


def test_keystore_key_matches_what_java_reads(keystore: Path, tmp_path: Path) -> None:
    java = shutil.which("java")
    if java is None:
        unavailable("java", "not installed (apt-get install openjdk-17-jre-headless)")
    source = tmp_path / "KeyHex.java"
    source.write_text(JAVA_KEY_DUMP)
    for alias in ("key1", "key2"):
        expected = subprocess.run([java, str(source), str(keystore), STORE_SECRET, alias],
                                  check=True, capture_output=True, text=True,
                                  timeout=120).stdout.strip()
        assert load_keystore_key(keystore, STORE_SECRET, alias).hex() == expected
    assert load_keystore_key(keystore, STORE_SECRET, "KEY2") == load_keystore_key(
        keystore, STORE_SECRET, "key2")  # keytool lowercases aliases


def test_keystore_errors(keystore: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError, match="secret is wrong") as raised:
        load_keystore_key(keystore, "not-the-secret", "key1")
    assert "not-the-secret" not in str(raised.value)
    with pytest.raises(MissingKeyError, match="no secret key with alias 'key9'"):
        load_keystore_key(keystore, STORE_SECRET, "key9")
    (tmp_path / "junk.p12").write_bytes(b"\x30\x03junk")
    with pytest.raises(MissingKeyError, match="not a PKCS#12"):
        load_keystore_key(tmp_path / "junk.p12", STORE_SECRET, "key1")


def _job(wrapped: object) -> JobRecord:
    return JobRecord(id=1, ruid=None, email=None, source_host=None, password=wrapped,
                     imapcoptions=None, exclude=None, phase=JobPhase.PRE_SYNC, priority=0,
                     status=JobStatus.RUNNING, submitted=None, started=None, finished=None,
                     attempts=1, backend="cloud/1", heartbeat=None, cancel_requested=False,
                     details=[], **OWNER)  # type: ignore[arg-type]


def test_keyring_unwraps_jobs_with_configured_keys(keystore: Path, tmp_path: Path) -> None:
    plain_key = os.urandom(32)
    (tmp_path / "plain.key").write_bytes(plain_key)
    ring = KeyRing({
        "key1": StorageKeySource(f"keystore:{keystore}", STORE_SECRET),
        "plain": StorageKeySource(str(tmp_path / "plain.key")),
        "broken": StorageKeySource(f"keystore:{keystore}", "wrong"),
    })
    assert STORE_SECRET not in repr(StorageKeySource(f"keystore:{keystore}", STORE_SECRET))
    from_store = wrap(PASSWORD, "key1", load_keystore_key(keystore, STORE_SECRET, "key1"),
                      **OWNER)
    assert ring.unwrap_job_password(_job(from_store)) == PASSWORD
    assert ring.unwrap_job_password(_job(wrap(PASSWORD, "plain", plain_key, **OWNER))) == PASSWORD
    assert ring.unwrap_job_password(_job(None)) is None
    with pytest.raises(MissingKeyError, match="no storage key named 'key3'"):
        ring.unwrap_job_password(_job(wrap(PASSWORD, "key3", plain_key, **OWNER)))
    with pytest.raises(MissingKeyError, match="'broken'"):
        ring.unwrap_job_password(_job(wrap(PASSWORD, "broken", plain_key, **OWNER)))
    with pytest.raises(WrongKeyError, match="'plain'"):
        ring.unwrap_job_password(_job(wrap(PASSWORD, "plain", os.urandom(32), **OWNER)))
