"""The admin API's dependencies, declared once. Everything comes from `app.state`, filled by
`create_app`: there is no module-level repository or registry, so two apps (two tests) never
share one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dmf.api.password_wrapping import PasswordWrapper
from dmf.migration_db.repository import MigrationRepository


def repository(request: Request) -> MigrationRepository:
    return request.app.state.repository


def password_wrapper(request: Request) -> PasswordWrapper | None:
    return request.app.state.password_wrapper


Repository = Annotated[MigrationRepository, Depends(repository)]
Wrapper = Annotated[PasswordWrapper | None, Depends(password_wrapper)]
