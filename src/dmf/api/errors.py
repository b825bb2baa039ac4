"""One place that turns dmf's exceptions into HTTP answers with a one-line `detail`.

Validation errors are re-shaped without the offending input: FastAPI echoes it by default,
and the input may be a password.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError

from dmf.api.schemas import Problem
from dmf.errors import DmfError, NotFoundError, TemporaryError
from dmf.migration_db.records import AlreadyExistsError, InUseError, JobStateError

log = logging.getLogger(__name__)

CONFLICTS = (AlreadyExistsError, InUseError, JobStateError)

# Documented on every API route, so clients (and the OpenAPI fuzzer) know them.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": description, "model": Problem} for code, description in (
        (400, "The request cannot be carried out as asked"),
        (401, "Missing or wrong credentials"),
        (404, "No such target, source, host, backend or job"),
        (409, "Conflicts with what is stored"),
        (503, "The migration database is unavailable"),
    )
}


def _problem(code: int, detail: object) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code)


def dmf_error_status(error: DmfError) -> int:
    if isinstance(error, NotFoundError):
        return status.HTTP_404_NOT_FOUND
    if isinstance(error, CONFLICTS):
        return status.HTTP_409_CONFLICT
    if isinstance(error, TemporaryError):
        return status.HTTP_503_SERVICE_UNAVAILABLE
    return status.HTTP_400_BAD_REQUEST


async def _on_dmf_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DmfError)
    return _problem(dmf_error_status(error), str(error))


async def _on_validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in error.errors()]
    return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, errors)


async def _on_integrity_error(_request: Request, error: Exception) -> JSONResponse:
    # A race the repository's own checks lost (two clients creating one name at once).
    log.info("integrity conflict: %s", type(error).__name__)
    return _problem(status.HTTP_409_CONFLICT, "conflicts with what is stored")


async def _on_database_error(_request: Request, error: Exception) -> JSONResponse:
    # The message may quote SQL parameters; only the class reaches the log.
    log.warning("migration database error: %s", type(error).__name__)
    return _problem(status.HTTP_503_SERVICE_UNAVAILABLE, "the migration database is unavailable")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DmfError, _on_dmf_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
