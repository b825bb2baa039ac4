"""How a worker's run state follows an operator's orders: a pure function, no I/O.

The states are the migration database's `BackendStatus`:
- STARTED: claims jobs up to maxThreads.
- PAUSED: claims nothing; running jobs go on to their end. START resumes.
- STOPPED: claims nothing (a worker whose initial state is STOPPED waits here for START).
- STOPPING: STOP was ordered (or SIGTERM / SIGINT arrived): claims nothing, waits for its running
  jobs up to `dmf.worker.jobs.termination.timeout`, then the process exits. Nothing leaves it.
"""

from __future__ import annotations

from dmf.migration_db.models import BackendCommand, BackendStatus

_AFTER_COMMAND = {
    BackendCommand.START: BackendStatus.STARTED,
    BackendCommand.PAUSE: BackendStatus.PAUSED,
    BackendCommand.STOP: BackendStatus.STOPPING,
}


def next_status(current: BackendStatus, command: BackendCommand | None) -> BackendStatus:
    """The state after `command`. A STOPPING worker ignores everything: a shutdown that has begun
    is not taken back, because the operator (or the init system) may already be waiting on it.
    PAUSE of a STOPPED worker leaves it STOPPED: it runs nothing, so there is nothing to pause."""
    if command is None or current is BackendStatus.STOPPING:
        return current
    if command is BackendCommand.PAUSE and current is BackendStatus.STOPPED:
        return current
    return _AFTER_COMMAND[command]


def may_claim(status: BackendStatus) -> bool:
    return status is BackendStatus.STARTED


def initial_status(initial_state: BackendStatus) -> BackendStatus:
    """A worker starts as its stored or configured initialState says: STARTED or STOPPED."""
    return BackendStatus.STARTED if initial_state is BackendStatus.STARTED \
        else BackendStatus.STOPPED
