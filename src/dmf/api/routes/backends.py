"""The seed's backends API: list a target's workers, read one by its URL-encoded name
(`cloud%2F1`), and PATCH one with a command, max threads or initial state."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from dmf.api.dependencies import Repository
from dmf.api.paths import BackendName, TargetName
from dmf.api.schemas import BackendOut, BackendPatch
from dmf.migration_db.records import BackendRecord, UnknownEntityError

router = APIRouter(tags=["backends"])
log = logging.getLogger(__name__)


def _backend_out(record: BackendRecord) -> BackendOut:
    return BackendOut(name=record.name, target=record.target, memberid=record.memberid,
                      initialState=int(record.initial_state), maxThreads=record.max_threads,
                      status=int(record.status), threads=record.threads, command=record.command,
                      updated=record.updated, heartbeat=record.heartbeat)


def _backend_of(repository: Repository, target: str, name: str) -> BackendRecord:
    """A backend of another target is as absent as an unknown one."""
    repository.get_target(target)
    backend = repository.get_backend(name)
    if backend.target != target:
        raise UnknownEntityError(f"target {target!r} has no backend {name!r}")
    return backend


@router.get("/targets/{target}/backends")
def list_backends(target: TargetName, repository: Repository) -> list[BackendOut]:
    repository.get_target(target)
    return [_backend_out(b) for b in repository.list_backends(target)]


@router.patch("/targets/{target}/backends")
def patch_backend(target: TargetName, body: BackendPatch, repository: Repository) -> BackendOut:
    _backend_of(repository, target, body.name)
    updated = repository.update_backend(body.name, command=body.command,
                                        max_threads=body.max_threads,
                                        initial_state=body.initial_status())
    log.info("backend %s patched: command=%s maxThreads=%s initialState=%s", body.name,
             body.command, body.max_threads, body.initial_state)
    return _backend_out(updated)


# `:path` because servers decode %2F before routing: `cloud%2F1` arrives as `cloud/1`.
@router.get("/targets/{target}/backends/{name:path}")
def get_backend(target: TargetName, name: BackendName, repository: Repository) -> BackendOut:
    return _backend_out(_backend_of(repository, target, name))
