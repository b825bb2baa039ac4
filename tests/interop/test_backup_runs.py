"""Acceptance of `dmf backup` runs (the real entry point as a child process, real Maildirs):
a no-change re-run does nothing, one run repairs a damaged destination, one run carries a
source's changes exactly, and a run killed with SIGKILL at any point is finished by the next."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.interop.trees import (
    USER,
    backup_command,
    copy_tree,
    damage,
    leftovers,
    message_files,
    mutate,
    run_backup,
    tree_view,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def pair(first_backup: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    source, dest = first_backup
    return copy_tree(source, tmp_path / "source"), copy_tree(dest, tmp_path / "dest")


def totals(events: list[dict]) -> dict[str, int]:
    return {key: sum(event[key] for event in events)
            for key in ("saved", "expunged", "flag_changes")}


def test_rerun_without_change_does_nothing(pair: tuple[Path, Path]) -> None:
    source, dest = pair
    before = tree_view(dest)
    code, events, stderr = run_backup(source, dest)
    assert code == 0, stderr
    assert events and totals(events) == {"saved": 0, "expunged": 0, "flag_changes": 0}
    assert not any(event["errors"] for event in events)
    assert tree_view(dest) == before == tree_view(source)


def test_one_run_restores_a_damaged_destination(pair: tuple[Path, Path]) -> None:
    source, dest = pair
    damage(dest, random.Random(7))
    assert tree_view(dest) != tree_view(source)
    code, events, stderr = run_backup(source, dest)
    assert code == 0, stderr
    moved = totals(events)
    assert moved["saved"] >= 25 and moved["flag_changes"] >= 20
    assert any(event.get("deleted") for event in events)
    assert tree_view(dest) == tree_view(source)


def test_one_run_carries_exactly_the_source_changes(pair: tuple[Path, Path]) -> None:
    source, dest = pair
    counts = mutate(source, seed=11)
    code, events, stderr = run_backup(source, dest)
    assert code == 0, stderr
    assert totals(events) == {"saved": counts["new"], "expunged": counts["expunged"],
                              "flag_changes": counts["flag_changes"]}
    assert sum(1 for event in events if event.get("created")) == counts["new_folders"]
    assert tree_view(dest) == tree_view(source)
    code, events, _ = run_backup(source, dest)
    assert code == 0 and totals(events) == {"saved": 0, "expunged": 0, "flag_changes": 0}


def _kill_after(source: Path, dest: Path, files: int) -> int:
    """Start a backup and SIGKILL it once `files` message files are in the destination's
    tmp/, new/ and cur/ (polled on disk); returns how many were there at the kill."""
    child = subprocess.Popen(backup_command(source, dest), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "USER": USER})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            seen = len(message_files(dest, with_tmp=True)) if dest.exists() else 0
            if seen >= files:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                return seen
            time.sleep(0.002)
        pytest.fail(f"the backup ended before {files} files were saved")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("fraction", [0.02, 0.45, 0.9])
def test_killed_backup_is_finished_by_the_next_run(first_backup: tuple[Path, Path],
                                                   tmp_path: Path, fraction: float) -> None:
    source = copy_tree(first_backup[0], tmp_path / "source")
    dest = tmp_path / "dest"
    wanted = len(message_files(source))
    seen = _kill_after(source, dest, max(1, int(wanted * fraction)))
    assert seen > 0
    code, _, stderr = run_backup(source, dest)
    assert code == 0, stderr
    assert tree_view(dest) == tree_view(source)
    assert len(message_files(dest)) == wanted  # no duplicate file left behind
    assert leftovers(dest) == []
