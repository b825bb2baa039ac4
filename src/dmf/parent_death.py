"""Children that must not outlive their parent ask the kernel for a signal when it dies.

Linux sends the `prctl(PR_SET_PDEATHSIG)` signal when the *thread* that forked the child exits,
so the caller forks from a thread that lives as long as the process (the main thread, or an
event loop's). If the parent died between fork and prctl the signal would never come: the child
then sends it to itself.
"""

from __future__ import annotations

import ctypes
import os
from _signal import SIGTERM  # signal.py's enums cost 0.5 ms of start-up

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: a forked child only calls it
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def die_with_parent(parent_pid: int, signum: int = SIGTERM) -> None:
    """Called in the child, right after fork."""
    _prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)
