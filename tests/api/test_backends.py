"""The seed's backends API against a real server and each real database: the encoded name
reaches the route, and a PATCH is what the worker reads back from the database."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from dmf.migration_db.models import BackendCommand, BackendStatus
from dmf.migration_db.repository import MigrationRepository
from tests.api.conftest import Scheduler


@dataclass(frozen=True)
class Cloud:
    """Two workers of a target and one of another, registered as workers do."""

    scheduler: Scheduler
    repository: MigrationRepository
    target: str
    other: str

    def get(self, path: str) -> httpx.Response:
        return self.scheduler.call("GET", path)

    def patch(self, path: str, body: dict[str, object]) -> httpx.Response:
        return self.scheduler.call("PATCH", path, json=body)


@pytest.fixture
def cloud(scheduler, fresh) -> Cloud:
    repository = scheduler.repository
    target, other = f"cloud{fresh}", f"other{fresh}"
    repository.register_backend(target, "1", BackendStatus.STOPPED, 10)
    repository.register_backend(target, "2", BackendStatus.STARTED, 20)
    repository.register_backend(other, "1", BackendStatus.STARTED, 5)
    return Cloud(scheduler, repository, target, other)


def test_get_backend_by_url_encoded_name(cloud):
    # The seed's curl: .../targets/cloud/backends/cloud%2F1
    response = cloud.get(f"/targets/{cloud.target}/backends/{cloud.target}%2F1")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == f"{cloud.target}/1" and body["target"] == cloud.target
    assert body["initialState"] == 0 and body["maxThreads"] == 10
    assert body["status"] == 0 and body["threads"] == 0 and body["command"] is None
    assert body["updated"].endswith("Z") and body["heartbeat"].endswith("Z")  # UTC, as the seed


def test_list_backends_of_one_target(cloud):
    response = cloud.get(f"/targets/{cloud.target}/backends")
    assert [b["name"] for b in response.json()] == [f"{cloud.target}/1", f"{cloud.target}/2"]


@pytest.mark.parametrize(("body", "expected"), [
    ({"command": "PAUSE"}, {"command": BackendCommand.PAUSE}),
    ({"command": "STOP"}, {"command": BackendCommand.STOP}),
    ({"command": "START"}, {"command": BackendCommand.START}),
    ({"maxThreads": 120}, {"max_threads": 120}),
    ({"initialState": 1}, {"initial_state": BackendStatus.STARTED}),
    ({"maxThreads": 0, "initialState": 0, "command": "PAUSE"},
     {"max_threads": 0, "initial_state": BackendStatus.STOPPED,
      "command": BackendCommand.PAUSE}),
])
def test_patch_takes_effect_in_the_database(cloud, body, expected):
    name = f"{cloud.target}/1"
    response = cloud.patch(f"/targets/{cloud.target}/backends", {"name": name, **body})
    assert response.status_code == 200
    stored = cloud.repository.get_backend(name)
    for field, value in expected.items():
        assert getattr(stored, field) == value
    assert cloud.repository.get_backend(f"{cloud.target}/2").command is None
    shown = cloud.get(f"/targets/{cloud.target}/backends/{cloud.target}%2F1").json()
    assert shown == response.json()
    if "command" in body:
        assert cloud.repository.take_command(name) == BackendCommand(body["command"])
        assert cloud.repository.get_backend(name).command is None


@pytest.mark.parametrize(("target", "body", "status"), [
    ("{cloud}", {"name": "{other}/1", "command": "STOP"}, 404),
    ("{cloud}", {"name": "{cloud}/9", "command": "STOP"}, 404),
    ("nowhere", {"name": "{cloud}/1", "command": "STOP"}, 404),
    ("{cloud}", {"name": "{cloud}/1", "command": "REBOOT"}, 422),
    ("{cloud}", {"name": "{cloud}/1", "initialState": 2}, 422),
    ("{cloud}", {"name": "{cloud}/1", "maxThreads": -1}, 422),
    ("{cloud}", {"name": "{cloud}/1", "threads": 3}, 422),
    ("{cloud}", {"command": "STOP"}, 422),
])
def test_bad_patch_changes_nothing(cloud, target, body, status):
    names = {"cloud": cloud.target, "other": cloud.other}
    before = {name: cloud.repository.get_backend(name)
              for name in (f"{cloud.target}/1", f"{cloud.target}/2", f"{cloud.other}/1")}
    body = {key: value.format(**names) if isinstance(value, str) else value
            for key, value in body.items()}
    response = cloud.patch(f"/targets/{target.format(**names)}/backends", body)
    assert response.status_code == status
    assert "detail" in response.json()
    after = {name: cloud.repository.get_backend(name) for name in before}
    assert after == before


def test_backend_of_another_target_is_not_found(cloud):
    assert cloud.get(f"/targets/{cloud.target}/backends/{cloud.other}%2F1").status_code == 404
    assert cloud.get("/targets/nowhere/backends").status_code == 404
