"""Run an ASGI app with uvicorn, with TLS from `micronaut.ssl` when it is enabled.

uvicorn (Python's ssl module) reads PEM files only, while the seed ships a PKCS12 keystore
(`file:/opt/.../keystore.p12`). A PKCS12 keystore is therefore converted, for the life of the
server, into a private temporary directory of PEM files readable by this user alone, and
removed when the server stops.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)

from dmf.errors import ConfigError
from dmf.service.http_settings import KeyStoreType, SslSettings

KEY_STORE_KEY = "micronaut.ssl.key-store"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """What uvicorn needs: a certificate chain file, the key (None: in the same file) and the
    password of an encrypted PEM key."""

    certfile: str
    keyfile: str | None = None
    password: str | None = None


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(content)


def pkcs12_to_pem(keystore: bytes, password: str | None, directory: Path) -> TlsFiles:
    """Unpack a PKCS12 keystore into `directory` as key.pem and cert.pem (mode 0600)."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            keystore, password.encode() if password is not None else None)
    except ValueError:
        # The library's message may quote its input; ours names the key and hides the rest.
        raise ConfigError(f"{KEY_STORE_KEY}: cannot open the PKCS12 keystore "
                          "(wrong password or not a PKCS12 file)") from None
    if key is None or certificate is None:
        raise ConfigError(f"{KEY_STORE_KEY}: the keystore holds no private key and certificate")
    key_path, cert_path = directory / "key.pem", directory / "cert.pem"
    _write_private(key_path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                               NoEncryption()))
    _write_private(cert_path, b"".join(c.public_bytes(Encoding.PEM)
                                       for c in (certificate, *(chain or ()))))
    return TlsFiles(certfile=str(cert_path), keyfile=str(key_path))


@contextmanager
def tls_files(ssl: SslSettings) -> Iterator[TlsFiles | None]:
    """The PEM files for `ssl`, or None when TLS is off; converted files vanish on exit."""
    if not ssl.enabled:
        yield None
        return
    store = ssl.key_store
    path = store.file_path
    if not path:
        raise ConfigError(f"{KEY_STORE_KEY}.path: required when micronaut.ssl.enabled is true")
    password = store.password.get_secret_value() if store.password is not None else None
    if store.type is KeyStoreType.PEM:
        if not Path(path).is_file():
            raise ConfigError(f"{KEY_STORE_KEY}.path: no such file: {path}")
        yield TlsFiles(certfile=path, password=password)
        return
    try:
        keystore = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{KEY_STORE_KEY}.path: cannot read {path}: {exc.strerror}") from None
    with tempfile.TemporaryDirectory(prefix="dmf-tls-") as directory:
        yield pkcs12_to_pem(keystore, password, Path(directory))


def build_server(app: object, host: str, port: int, tls: TlsFiles | None,
                 log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server, not yet started; `tls` files must outlive it.

    Proxy headers are ignored: uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1,
    letting any local user pose as an allowed address to the IP filter."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on", proxy_headers=False,
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
        ssl_keyfile_password=tls.password if tls else None,
    )
    return uvicorn.Server(config)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """uvicorn's own handling, less its last step: after the graceful shutdown it raises the
    caught signal again, so the process dies by it (status -15) and a supervisor records a
    failure for a service it stopped itself. Here the signal only asks the server to stop (a
    second SIGINT forces it, as in uvicorn) and `serve` returns normally: exit 0."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    previous = {signum: signal.signal(signum, server.handle_exit) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(app: object, host: str, port: int, ssl: SslSettings, log_level: str = "info") -> None:
    """Serve until SIGINT / SIGTERM, then return (the process exits 0). With TLS on, callers
    usually pass `ssl.port` as `port`."""
    with tls_files(ssl) as tls:
        server = build_server(app, host, port, tls, log_level)
        server.capture_signals = lambda: _stop_on_signals(server)  # type: ignore[method-assign]
        server.run()
