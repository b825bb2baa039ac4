"""Targets, sources and source hosts: what jobs and workers refer to by name."""

from __future__ import annotations

from fastapi import APIRouter, status

from dmf.api.dependencies import Repository
from dmf.api.paths import HostName, SourceName, TargetName
from dmf.api.schemas import (
    SourceHostIn,
    SourceHostOut,
    SourceHostSettings,
    SourceIn,
    SourceOut,
    TargetIn,
    TargetOut,
)
from dmf.migration_db.records import SourceHostRecord

router = APIRouter()
# Host names may hold a slash (they are free text); `:path` lets an encoded one (%2F), which
# the server decodes before routing, still reach the host routes.


def _host_out(record: SourceHostRecord) -> SourceHostOut:
    return SourceHostOut(source=record.source, host=record.host, port=record.port,
                         ssl=record.ssl, statusCommand=record.status_command)


@router.get("/targets", tags=["targets"])
def list_targets(repository: Repository) -> list[TargetOut]:
    return [TargetOut(name=t.name, created=t.created) for t in repository.list_targets()]


@router.post("/targets", status_code=status.HTTP_201_CREATED, tags=["targets"])
def create_target(body: TargetIn, repository: Repository) -> TargetOut:
    target = repository.create_target(body.name)
    return TargetOut(name=target.name, created=target.created)


@router.get("/targets/{target}", tags=["targets"])
def get_target(target: TargetName, repository: Repository) -> TargetOut:
    found = repository.get_target(target)
    return TargetOut(name=found.name, created=found.created)


@router.delete("/targets/{target}", status_code=status.HTTP_204_NO_CONTENT, tags=["targets"])
def delete_target(target: TargetName, repository: Repository) -> None:
    repository.delete_target(target)


@router.get("/sources", tags=["sources"])
def list_sources(repository: Repository) -> list[SourceOut]:
    return [SourceOut(name=s.name, created=s.created) for s in repository.list_sources()]


@router.post("/sources", status_code=status.HTTP_201_CREATED, tags=["sources"])
def create_source(body: SourceIn, repository: Repository) -> SourceOut:
    source = repository.create_source(body.name)
    return SourceOut(name=source.name, created=source.created)


@router.get("/sources/{source}", tags=["sources"])
def get_source(source: SourceName, repository: Repository) -> SourceOut:
    found = repository.get_source(source)
    return SourceOut(name=found.name, created=found.created)


@router.delete("/sources/{source}", status_code=status.HTTP_204_NO_CONTENT, tags=["sources"])
def delete_source(source: SourceName, repository: Repository) -> None:
    repository.delete_source(source)


@router.get("/sources/{source}/hosts", tags=["sources"])
def list_source_hosts(source: SourceName, repository: Repository) -> list[SourceHostOut]:
    return [_host_out(h) for h in repository.list_source_hosts(source)]


@router.post("/sources/{source}/hosts", status_code=status.HTTP_201_CREATED, tags=["sources"])
def add_source_host(source: SourceName, body: SourceHostIn,
                    repository: Repository) -> SourceHostOut:
    return _host_out(repository.add_source_host(source, body.host, body.port, body.ssl,
                                                body.status_command))


@router.get("/sources/{source}/hosts/{host:path}", tags=["sources"])
def get_source_host(source: SourceName, host: HostName, repository: Repository) -> SourceHostOut:
    return _host_out(repository.get_source_host(source, host))


@router.put("/sources/{source}/hosts/{host:path}", tags=["sources"])
def update_source_host(source: SourceName, host: HostName, body: SourceHostSettings,
                       repository: Repository) -> SourceHostOut:
    return _host_out(repository.update_source_host(source, host, body.port, body.ssl,
                                                   body.status_command))


@router.delete("/sources/{source}/hosts/{host:path}", status_code=status.HTTP_204_NO_CONTENT,
               tags=["sources"])
def delete_source_host(source: SourceName, host: HostName, repository: Repository) -> None:
    repository.delete_source_host(source, host)
