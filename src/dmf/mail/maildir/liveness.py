"""Whether the process of this host that left a dotlock or a temp file can still write.

A zombie cannot: a writer killed together with its parent (a dmf sync process) stays one until
init reaps it, which some container inits do late, and its lock or temp file must not wait
for that.
"""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")
