"""Builders shared by the job run tests: a worker configuration, a job context, and the fake
doveadm (`fake_doveadm.py`) with its plan and call record."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dmf.service.worker_config import WorkerConfig
from dmf.worker.job_context import JobContext

SCRIPTS = Path(__file__).parent
FAKE_DOVEADM = SCRIPTS / "fake_doveadm.py"
PASSWORD = "pw;$(touch /tmp/pwned)`id`'\"x"

# Steps that are on by default in the seed, off here unless a test turns them on; retries fast.
QUIET = {"count": {"pre": False, "post": False, "remote": False},
         "retry": {"max": 0, "sleep": 1, "code-max": None, "code-sleep": None}}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def make_config(doveadm_path: str | Path, source: dict[str, Any] | None = None, *,
                worker_type: str = "doveadm",
                logging: dict[str, Any] | None = None) -> WorkerConfig:
    return WorkerConfig.model_validate({"dmf": {
        "worker": {"type": worker_type, "command": {"logging": logging or {"type": "off"}},
                   "simulator": {"min-ms": 0, "max-ms": 0}},
        "doveadm": {"path": str(doveadm_path),
                    "source": {"default": deep_merge(QUIET, source or {})}}}})


def make_context(**fields: Any) -> JobContext:
    values: dict[str, Any] = dict(
        job_id=42, uid="user1", ruid="olduser1", email="user1@example.com", source="POD_1",
        source_host="imap.old.example", source_port=143, imapc_ssl="no",
        source_password=PASSWORD, imapc_options=None, exclude=None, phase="pre-sync")
    values.update(fields)
    return JobContext(**values)


def command(*arguments: str, program: str | Path = FAKE_DOVEADM) -> dict[str, Any]:
    """A common-format command running `program` with `arguments`."""
    return {"name": str(program), "arguments": list(arguments)}


class FakeDoveadm:
    """The plan file the fake reads, and the calls it recorded."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch, **plan: Any) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.plan_path = directory / "plan.json"
        self.record = directory / "calls.jsonl"
        self.plan = {"record": str(self.record), "counter": str(directory / "attempts"), **plan}
        self.plan_path.write_text(json.dumps(self.plan))
        monkeypatch.setenv("FAKE_DOVEADM_PLAN", str(self.plan_path))

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def words(self) -> list[list[str]]:
        """Each call's argv after the program."""
        return [call["argv"][1:] for call in self.calls()]


def named_link(directory: Path, name: str) -> Path:
    """The fake under another program name (`doveadm` makes the runner treat it as Dovecot's)."""
    link = directory / name
    os.symlink(FAKE_DOVEADM, link)
    return link


def step_names(details: list[dict[str, Any]]) -> list[str]:
    return [next(iter(entry)) for entry in details]


def entry_of(details: list[dict[str, Any]], name: str) -> dict[str, Any]:
    matches = [entry[name] for entry in details if name in entry]
    assert len(matches) == 1, f"{name}: {len(matches)} entries in {step_names(details)}"
    return matches[0]
