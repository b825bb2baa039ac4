"""The split of a step's mailboxes among processes: whole mailboxes, balanced, and no process
for work too small to pay for one."""

from __future__ import annotations

import random

from dmf.dsync.shards import MESSAGE_COST, MIN_GROUP_COST, cost, shard

MB = 1024 * 1024


def loads(costs: list[int], groups: list[list[int]]) -> list[int]:
    return [sum(costs[index] for index in group) for group in groups]


def test_every_mailbox_with_work_lands_in_exactly_one_group() -> None:
    costs = [random.Random(seed).randrange(0, 80 * MB) for seed in range(40)]
    costs[3] = costs[17] = 0
    groups = shard(costs, 3)
    assert len(groups) == 3
    placed = sorted(index for group in groups for index in group)
    assert placed == [index for index, value in enumerate(costs) if value > 0]
    assert all(group == sorted(group) for group in groups)  # each keeps the tree's order


def test_groups_are_balanced_like_the_benchmark_corpus() -> None:
    # messages per folder of make_corpus.py's 20,000-message tree: INBOX holds a third
    counts = [6594, 3186, 2225, 1766, 2057, 916, 2028, 83, 78, 345, 423, 0]
    costs = [cost(count, count * 39_000) for count in counts]
    two = loads(costs, shard(costs, 2))
    assert max(two) / min(two) < 1.05
    four = loads(costs, shard(costs, 4))
    assert max(four) <= costs[0] * 1.01  # nothing waits on more than the largest mailbox


def test_one_group_when_the_work_is_small_or_there_is_one_process() -> None:
    small = [cost(40, 40 * 4_000)] * 10  # 400 small messages in all
    assert sum(small) < 2 * MIN_GROUP_COST
    assert shard(small, 4) == [list(range(10))]
    big = [cost(5_000, 5_000 * 40_000)] * 3
    assert shard(big, 1) == [[0, 1, 2]]
    assert len(shard(big, 8)) == 3  # never more groups than mailboxes
    assert shard([0, 0], 4) == []


def test_a_message_costs_its_bytes_and_a_fixed_part() -> None:
    assert cost(0, 0) == 0
    assert cost(2, 10) == 2 * MESSAGE_COST + 10
