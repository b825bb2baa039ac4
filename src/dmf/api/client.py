"""A small HTTP client of the admin API for the operator CLI (`dmf jobs`, `dmf backends`).

It imports httpx only, never FastAPI, so the CLI stays quick. HTTP failures become dmf
exceptions with the server's one-line `detail`, so the CLI exits with doveadm's codes
(401/403 -> 77, 404 -> 68, 400/409/422 -> 65, 503 or no connection -> 75).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from dmf.errors import (
    ConfigError,
    DmfError,
    NotFoundError,
    NotPossibleError,
    PermissionDeniedError,
    TemporaryError,
)

API = "/dmf/admin/api/v2"
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class SchedulerEndpoint:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cacert: str | None = None  # a PEM CA bundle for a self-signed scheduler certificate


def _error_for(response: httpx.Response) -> DmfError:
    try:
        detail = response.json().get("detail", response.reason_phrase)
    except (ValueError, AttributeError):
        detail = response.reason_phrase
    if isinstance(detail, list):  # validation errors: name each field
        detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                           for e in detail)
    message = f"scheduler: {detail} (HTTP {response.status_code})"
    code = response.status_code
    if code in (401, 403):
        return PermissionDeniedError(message)
    if code == 404:
        return NotFoundError(message)
    if code in (400, 409, 422):
        return NotPossibleError(message)
    if code in (502, 503, 504):
        return TemporaryError(message)
    return DmfError(message)


def _verification(cacert: str | None) -> ssl.SSLContext | bool:
    """The system's CAs, or only those of `cacert` for a scheduler with its own CA."""
    if cacert is None:
        return True
    try:
        return ssl.create_default_context(cafile=cacert)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CA certificate file {cacert}: {exc.strerror or exc}") from None


class SchedulerClient:
    def __init__(self, endpoint: SchedulerEndpoint,
                 transport: httpx.BaseTransport | None = None) -> None:
        auth = None
        if endpoint.username is not None:
            auth = httpx.BasicAuth(endpoint.username, endpoint.password or "")
        self._base = endpoint.url.rstrip("/")
        self._http = httpx.Client(auth=auth, timeout=TIMEOUT_SECONDS,
                                  verify=_verification(endpoint.cacert), transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SchedulerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, self._base + API + path, **kwargs)
        except httpx.TransportError as exc:
            raise TemporaryError(f"scheduler {self._base}: {type(exc).__name__}: {exc}") \
                from None
        if response.is_error:
            raise _error_for(response)
        return None if response.status_code == 204 else response.json()

    # -- backends
    def list_backends(self, target: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/targets/{_segment(target)}/backends")

    def get_backend(self, target: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"/targets/{_segment(target)}/backends/{_segment(name)}")

    def patch_backend(self, target: str, name: str, **changes: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/targets/{_segment(target)}/backends",
                          json={"name": name, **changes})

    # -- jobs
    def submit_job(self, submission: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/jobs", json=submission)

    def submit_csv(self, csv_file: Path, target: str) -> dict[str, Any]:
        with csv_file.open("rb") as stream:
            return self._call("POST", "/jobs/bulk", data={"target": target},
                              files={"file": (csv_file.name, stream, "text/csv")})

    def list_jobs(self, filters: dict[str, Any]) -> dict[str, Any]:
        return self._call("GET", "/jobs", params={k: v for k, v in filters.items()
                                                  if v is not None and v != ()})

    def get_job(self, job_id: int) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{job_id}")

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        return self._call("POST", f"/jobs/{job_id}/cancel")

    def requeue_job(self, job_id: int) -> dict[str, Any]:
        return self._call("POST", f"/jobs/{job_id}/requeue")


def _segment(value: str) -> str:
    """One path segment: `cloud/1` travels as `cloud%2F1`, as the seed's curl examples send it."""
    return quote(value, safe="")
