"""The process's limit on open files, raised where the work holds many descriptors at once
(unnamed message bodies waiting for their commit, and those on their way between processes)."""

from __future__ import annotations

import contextlib
import resource

# What dmf asks for where it is lower: the hard limit allows it nearly everywhere.
WANTED = 4096


def raise_soft_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to WANTED where it is lower and the hard limit allows;
    the soft limit then in force (WANTED when it is unlimited)."""
    wanted = WANTED
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft
