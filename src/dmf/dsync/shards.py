"""How a run's mailboxes are split among processes, pure: whole mailboxes only (no two
processes write one dovecot-uidlist), groups of nearly equal cost.

A message costs a fixed amount (file creation, rename, Python) plus its bytes; MESSAGE_COST is
that fixed part in bytes, an estimate: creating and renaming one file costs about as much as
copying 16 KB.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

MESSAGE_COST = 16 * 1024
# Less work than this per process is not worth a process: a fork and the replies to the parent
# cost a few ms; this is about 500 small messages, 40 ms of copying.
MIN_GROUP_COST = 8 * 1024 * 1024


def cost(messages: int, size: int) -> int:
    return messages * MESSAGE_COST + size


def shard(costs: Sequence[int], processes: int) -> list[list[int]]:
    """Indexes into `costs` in at most `processes` groups: largest first, each to the lightest
    group so far (within 4/3 of the best split). Work that does not fill two groups of
    MIN_GROUP_COST stays in one; empty items are left out."""
    wanted = [index for index, value in enumerate(costs) if value > 0]
    total = sum(costs[index] for index in wanted)
    count = max(1, min(processes, len(wanted), total // MIN_GROUP_COST))
    if count == 1:
        return [wanted] if wanted else []
    heap = [(0, group) for group in range(count)]
    groups: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(wanted, key=lambda i: -costs[i]):
        load, group = heapq.heappop(heap)
        groups[group].append(index)
        heapq.heappush(heap, (load + costs[index], group))
    return [sorted(group) for group in groups if group]
