""""copy imapc inbox" and "remove imapc inbox" (seed 3.3): a copy of the local user's INBOX where
the imapc storage keeps its INBOX, so that delta syncs keep POP3 UIDLs cheaply.

Copy: the user's home from `<doveadm> user -f home <uid>`, the INBOX directory from
`<doveadm> mailbox path -u <uid> INBOX`, then `cp -a <inbox> <home>/imapc/.INBOX/.INBOX` and
`chown -R <owner> <home>/imapc`, where the owner is the numeric uid:gid of the home directory
(the mail user, `vmail:vmail` in the seed's example, without assuming that name exists). A copy
left by an earlier run is replaced. Remove: the copied directory is deleted again, after the
migration command whatever its outcome; the rest of `<home>/imapc` (imapc's own index) stays.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from dmf.worker import commands
from dmf.worker.steps.runtime import StepRuntime

COPY = "copy imapc inbox"
REMOVE = "remove imapc inbox"
STATE_KEY = "imapc inbox copy"


def copy_target(home: str) -> Path:
    return Path(home) / "imapc" / ".INBOX" / ".INBOX"


async def _first_line(runtime: StepRuntime, argv: list[str], what: str,
                      errors: list[str]) -> str | None:
    result = await runtime.run(COPY, argv)
    value = next((line.strip() for line in result.stdout if line.strip()), "")
    if result.success and value:
        return value
    errors += result.errors or [f"{result.shown}: no {what} in its output"]
    return None


async def run_copy(runtime: StepRuntime) -> dict[str, Any]:
    errors: list[str] = []
    uid = runtime.context.uid
    home = await _first_line(runtime, commands.user_home(runtime.doveadm, uid), "home", errors)
    inbox = home and await _first_line(
        runtime, commands.mailbox_path(runtime.doveadm, uid), "INBOX path", errors)
    if not home or not inbox:
        return {"success": False, "errors": errors}
    if not os.path.isdir(home) or not os.path.isdir(inbox):
        return {"success": False, "errors": [f"home {home} or INBOX {inbox} is not a directory"]}
    target = copy_target(home)
    runtime.state[STATE_KEY] = target
    try:
        await asyncio.to_thread(_clear, target)
    except OSError as exc:
        return {"success": False, "errors": [f"cannot prepare {target}: {exc.strerror or exc}"]}
    owner = os.stat(home)
    for argv in (["cp", "-a", inbox, str(target)],
                 ["chown", "-R", f"{owner.st_uid}:{owner.st_gid}", str(Path(home) / "imapc")]):
        result = await runtime.run(COPY, argv)
        if not result.success:
            return {"success": False, "errors": result.errors}
    return {"success": True, "errors": []}


def _clear(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)


async def run_remove(runtime: StepRuntime) -> dict[str, Any]:
    target = runtime.state.get(STATE_KEY)
    if target is None:
        return {"success": True, "errors": []}
    try:
        await asyncio.to_thread(shutil.rmtree, target)
    except FileNotFoundError:
        pass
    except OSError as exc:
        return {"success": False, "errors": [f"cannot remove {target}: {exc.strerror or exc}"]}
    return {"success": True, "errors": []}
