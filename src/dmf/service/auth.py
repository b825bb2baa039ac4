"""HTTP Basic authentication against `http.admin`, compared in constant time.

Presented credentials must be right everywhere: a wrong password gets 401 even on an endpoint
that anonymous callers may use, so a misconfigured client notices. With
`micronaut.security.enabled: false` every caller counts as authenticated.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from dmf.service.context import ServiceContextDep
from dmf.service.http_settings import AdminCredentials

REALM = "dmf"

basic_scheme = HTTPBasic(auto_error=False, realm=REALM,
                         description="The http.admin username and password")


def unauthorized() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                         headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})


def credentials_match(admin: AdminCredentials, username: str, password: str) -> bool:
    """Both comparisons always run, so timing tells nothing about which part was wrong."""
    if admin.username is None or admin.password is None:
        return False
    user_ok = secrets.compare_digest(username.encode(), admin.username.encode())
    password_ok = secrets.compare_digest(password.encode(),
                                         admin.password.get_secret_value().encode())
    return user_ok and password_ok


def caller_authenticated(
        service: ServiceContextDep,
        credentials: Annotated[HTTPBasicCredentials | None, Depends(basic_scheme)]) -> bool:
    """False for an anonymous caller; 401 for wrong credentials."""
    if not service.http.security.enabled:
        return True
    if credentials is None:
        return False
    if not credentials_match(service.http.admin, credentials.username, credentials.password):
        raise unauthorized()
    return True


CallerAuthenticated = Annotated[bool, Depends(caller_authenticated)]


def require_admin(authenticated: CallerAuthenticated) -> None:
    if not authenticated:
        raise unauthorized()


AdminRequired = Depends(require_admin)
