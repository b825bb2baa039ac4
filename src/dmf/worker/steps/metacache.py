""""flush user metacache" and "clean user metacache": `<doveadm> metacache flush|clean -u <uid>`
after a successful migration command (seed 3.4; the metacache exists in Dovecot Pro's obox)."""

from __future__ import annotations

from typing import Any

from dmf.worker import commands
from dmf.worker.steps.runtime import StepRuntime

FLUSH = "flush user metacache"
CLEAN = "clean user metacache"


async def run_metacache(runtime: StepRuntime, step: str, action: str) -> dict[str, Any]:
    argv = commands.metacache(runtime.doveadm, action, runtime.context.uid)
    return (await runtime.run(step, argv)).entry()
