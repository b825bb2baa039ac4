""""move user": the director's move of the user to this worker's backend through the doveadm HTTP
API (seed 3.5). Not implemented: enabling it yields a failed step that says so, rather than a
job that silently runs on the wrong backend."""

from __future__ import annotations

from typing import Any

from dmf.worker.steps.runtime import StepRuntime

STEP = "move user"


async def run_move_user(runtime: StepRuntime) -> dict[str, Any]:
    return {"success": False, "errors": [
        "director.move-user: moving a user through the doveadm HTTP API is not supported by "
        "dmf; disable director.move-user or move the user before the job"]}
