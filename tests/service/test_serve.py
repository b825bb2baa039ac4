"""TLS from `micronaut.ssl`: a PEM pair and the seed's PKCS12 keystore, with real handshakes."""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)

from dmf.errors import ConfigError
from dmf.service.http_settings import SslSettings
from dmf.service.serve import tls_files
from tests.service.live_server import live_server
from tests.service.service_app import ADMIN, make_app


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(authority: trustme.CA) -> trustme.LeafCert:
    return authority.issue_cert("localhost", "127.0.0.1")


def trusting(authority: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts only the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=authority.cert_pem.bytes().decode())
    return context


def write_keystore(cert: trustme.LeafCert, path: Path, password: str) -> None:
    key = load_pem_private_key(cert.private_key_pem.bytes(), None)
    chain = [x509.load_pem_x509_certificate(blob.bytes()) for blob in cert.cert_chain_pems]
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"dmf", key, chain[0], chain[1:], BestAvailableEncryption(password.encode())))


def ssl_settings(path: Path, store_type: str, password: str | None) -> SslSettings:
    return SslSettings.model_validate({"enabled": True, "key-store": {
        "path": f"file:{path}", "type": store_type, "password": password}})


def test_pkcs12_keystore_serves_https_and_leaves_no_key_behind(tmp_path, authority,
                                                               server_cert):
    keystore = tmp_path / "keystore.p12"
    write_keystore(server_cert, keystore, "verysecretpassword")
    app, _ = make_app()
    with tls_files(ssl_settings(keystore, "PKCS12", "verysecretpassword")) as tls:
        assert tls is not None
        for name in (tls.certfile, tls.keyfile):
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(Path(tls.keyfile).parent).st_mode) == 0o700
        with live_server(app, tls) as url:
            response = httpx.get(f"{url}/metrics", auth=ADMIN, verify=trusting(authority))
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(url.replace("https:", "http:") + "/health")  # plain HTTP is refused
    assert response.status_code == 200
    assert not Path(tls.keyfile).exists()


def test_untrusted_certificate_is_rejected_by_clients(tmp_path, server_cert):
    keystore = tmp_path / "keystore.p12"
    write_keystore(server_cert, keystore, "pw")
    app, _ = make_app()
    with tls_files(ssl_settings(keystore, "PKCS12", "pw")) as tls, \
            live_server(app, tls) as url, pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")


def test_pem_key_and_chain_serve_https(tmp_path, authority, server_cert):
    pem = tmp_path / "server.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    app, _ = make_app()
    with tls_files(ssl_settings(pem, "PEM", None)) as tls, live_server(app, tls) as url:
        assert httpx.get(f"{url}/health", verify=trusting(authority)).json() == {"status": "UP"}


def test_wrong_keystore_password_names_the_key_and_hides_the_password(tmp_path, server_cert):
    keystore = tmp_path / "keystore.p12"
    write_keystore(server_cert, keystore, "right-password")
    with pytest.raises(ConfigError) as caught, \
            tls_files(ssl_settings(keystore, "PKCS12", "wrong-password")):
        pass
    assert "micronaut.ssl.key-store" in str(caught.value)
    assert "password" not in str(caught.value).replace("wrong password", "")
    assert "wrong-password" not in str(caught.value)
    assert caught.value.exit_code == 78


@pytest.mark.parametrize("store_type", ["PKCS12", "PEM"])
def test_missing_keystore_is_a_configuration_error(tmp_path, store_type):
    with pytest.raises(ConfigError, match="micronaut.ssl.key-store.path"), \
            tls_files(ssl_settings(tmp_path / "absent", store_type, None)):
        pass


def test_tls_disabled_needs_no_files():
    with tls_files(SslSettings()) as tls:
        assert tls is None
