"""The configured commands around the migration: "pre migration command" (before it), "post
migration command" (after a successful one) and "post migration failure command" (after a failed
job). Any program, rendered from the common command format with injection (seed 3.10.2-3.10.5).
"""

from __future__ import annotations

from typing import Any

from dmf.worker.source_settings import CommandSpec
from dmf.worker.steps.runtime import StepRuntime

PRE = "pre migration command"
POST = "post migration command"
FAILURE = "post migration failure command"


async def run_phase_command(runtime: StepRuntime, step: str, spec: CommandSpec) -> dict[str, Any]:
    result = await runtime.run(step, runtime.render(spec))
    return result.entry()
