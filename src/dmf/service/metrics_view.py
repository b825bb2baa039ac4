"""Micronaut's JSON view of metrics (`/metrics`, `/metrics/{name}`) computed from a Prometheus
registry, so that one set of metrics serves both the seed's JSON API and `/prometheus`.

Pure functions over `registry.collect()`: no state, nothing to keep in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

# Labels that describe the shape of a sample, not what it measures.
_SHAPE_LABELS = frozenset({"le", "quantile"})


def dotted(name: str) -> str:
    return name.replace("_", ".")


def metric_names(registry: CollectorRegistry) -> list[str]:
    return sorted({dotted(family.name) for family in registry.collect()})


def parse_tags(tags: Iterable[str]) -> dict[str, str]:
    """Micronaut's `?tag=name:value` filters; ValueError names a malformed one."""
    parsed: dict[str, str] = {}
    for tag in tags:
        name, sep, value = tag.partition(":")
        if not sep or not name:
            raise ValueError(f"tag {tag!r}: expected name:value")
        parsed[name] = value
    return parsed


def metric_detail(registry: CollectorRegistry, name: str,
                  tags: dict[str, str]) -> dict[str, Any] | None:
    """`{"name", "measurements": [{"statistic", "value"}], "availableTags", "description"}` for
    the dotted `name`, summed over the samples carrying all `tags`; None for an unknown name."""
    family = next((f for f in registry.collect() if dotted(f.name) == name), None)
    if family is None:
        return None
    available: dict[str, set[str]] = {}
    sums: dict[str, float] = {}
    for sample in family.samples:
        labels = {k: v for k, v in sample.labels.items() if k not in _SHAPE_LABELS}
        for label, value in labels.items():
            if label not in tags:
                available.setdefault(label, set()).add(value)
        if any(labels.get(k) != v for k, v in tags.items()):
            continue
        statistic = _statistic(family, sample.name)
        if statistic is not None:
            sums[statistic] = sums.get(statistic, 0.0) + sample.value
    return {
        "name": name,
        "measurements": [{"statistic": s, "value": v} for s, v in sums.items()],
        "availableTags": [{"tag": t, "values": sorted(vs)} for t, vs in sorted(available.items())],
        "description": family.documentation,
    }


def _statistic(family: Metric, sample_name: str) -> str | None:
    suffix = sample_name[len(family.name):]
    if family.type in ("histogram", "summary"):
        total = "TOTAL_TIME" if family.name.endswith("_seconds") else "TOTAL"
        return {"_count": "COUNT", "_sum": total}.get(suffix)
    if family.type == "counter":
        return "COUNT" if suffix == "_total" else None
    return "VALUE" if suffix == "" else None
