""""move user" (seed 3.5): with `director.enabled` and `director.move-user`, ask the Dovecot
director, through the doveadm HTTP API at `http.url`, to send the user to the backend this worker
runs on, so that the migration writes where the user's sessions will land.

1. The director's backends: `directorStatus` (`POST <url>/doveadm/v1`, body
   `[["directorStatus", {}, "<tag>"]]`, Basic auth with `http.username` / `http.password`).
2. This worker's backend: a listed `mail server ip` that is an address of this host (it can be
   bound to). With `use-only-tagged`, only backends whose tag is `director-tag` count; otherwise
   a tagged local backend is preferred to an untagged one.
3. `directorMove` with `{"user": <uid>, "host": <that ip>}`.
The entry adds `host`, the backend the user was moved to. TLS to the API is verified against
`micronaut.http.services.doveadm.ssl.trust-store` when it is enabled (a PKCS12 trust store as
`keytool -importcert` makes it, or a PEM file of CA certificates), else the system's trust store.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from dmf.errors import ConfigError
from dmf.service.worker_config import WorkerConfig
from dmf.worker.commands import mask
from dmf.worker.steps.runtime import StepRuntime

STEP = "move user"
API_PATH = "/doveadm/v1"
TIMEOUT_SECONDS = 30.0
SERVICE = "doveadm"
TRUST_STORE_KEY = "micronaut.http.services.doveadm.ssl.trust-store"


class DirectorError(Exception):
    """The doveadm HTTP API refused or could not be asked."""


def api_tls(config: WorkerConfig) -> ssl.SSLContext | bool:
    """How the doveadm HTTP API's certificate is verified (module docstring)."""
    service = config.micronaut.http.services.get(SERVICE)
    if service is None or not service.ssl.enabled or not service.ssl.trust_store.path:
        return True
    store = service.ssl.trust_store
    path = store.path.removeprefix("file:")
    if store.type == "PEM":
        try:
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{TRUST_STORE_KEY}.path {path}: {exc}") from None
    password = store.password.get_secret_value().encode() if store.password else None
    try:
        bundle = pkcs12.load_pkcs12(Path(path).read_bytes(), password)
    except OSError as exc:
        raise ConfigError(f"{TRUST_STORE_KEY}.path {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(f"{TRUST_STORE_KEY}: cannot open the PKCS12 trust store {path} "
                          "(wrong password or not a PKCS12 file)") from None
    certificates = [entry.certificate for entry in bundle.additional_certs]
    if bundle.cert is not None:
        certificates.append(bundle.cert.certificate)
    if not certificates:
        raise ConfigError(f"{TRUST_STORE_KEY}: {path} holds no certificate")
    return ssl.create_default_context(cadata="".join(
        certificate.public_bytes(Encoding.PEM).decode() for certificate in certificates))


def is_local_address(ip: str) -> bool:
    """True when this host owns `ip` (the kernel lets a socket bind to it)."""
    try:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((ip, 0))
    except (OSError, ValueError):
        return False
    return True


def choose_backend(backends: list[dict[str, Any]], tag: str | None,
                   only_tagged: bool) -> str | None:
    """The `mail server ip` of the local backend (module docstring, step 2), or None."""
    local = [backend for backend in backends
             if is_local_address(str(backend.get("mail server ip", "")))]
    tagged = [backend for backend in local if tag and backend.get("tag") == tag]
    chosen = tagged if (tagged or only_tagged) else local
    return str(chosen[0]["mail server ip"]) if chosen else None


async def _call(client: httpx.AsyncClient, url: str, command: str,
                parameters: dict[str, str]) -> Any:
    try:
        response = await client.post(url, json=[[command, parameters, "dmf"]])
    except httpx.HTTPError as exc:
        raise DirectorError(f"{command}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise DirectorError(f"{command}: HTTP {response.status_code}")
    try:
        kind, result, _tag = response.json()[0]
    except (ValueError, IndexError, TypeError):
        raise DirectorError(f"{command}: unreadable response") from None
    if kind != "doveadmResponse":
        raise DirectorError(f"{command}: {kind} {result}")
    return result


async def run_move_user(runtime: StepRuntime) -> dict[str, Any]:
    http = runtime.settings.http
    if not http.url:
        return {"success": False, "errors": ["director.move-user needs http.url (the doveadm "
                                             "HTTP API)"]}
    auth = httpx.BasicAuth(http.username or "doveadm", http.password or "") \
        if http.password else None
    url = http.url.rstrip("/") + API_PATH
    try:
        async with httpx.AsyncClient(auth=auth, timeout=TIMEOUT_SECONDS,
                                     verify=runtime.api_tls) as client:
            backends = await _call(client, url, "directorStatus", {})
            if not isinstance(backends, list):
                raise DirectorError("directorStatus: no backend list")
            host = choose_backend(backends, http.director_tag, http.use_only_tagged)
            if host is None:
                raise DirectorError("this worker's host is none of the director's backends "
                                    f"{[b.get('mail server ip') for b in backends]}")
            await _call(client, url, "directorMove", {"user": runtime.context.uid, "host": host})
    except DirectorError as exc:
        return {"success": False, "errors": [mask(str(exc), runtime.secrets)]}
    return {"success": True, "errors": [], "host": host}
