"""The base of every configuration model: unknown keys are errors, and fields carry the exact
YAML key of the seed's dmf-worker.yml as alias (kebab-case, camelCase and all)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
