"""Path parameters of the admin API, validated like the bodies (see `dmf.api.schemas`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

from dmf.api.schemas import INT32_MAX, NAME_MAX, printable_name

PREFIX = "/dmf/admin/api/v2"

EntityName = Annotated[str, Path(min_length=1, max_length=NAME_MAX),
                       AfterValidator(printable_name)]
TargetName = SourceName = HostName = EntityName
BackendName = Annotated[str, Path(min_length=1, max_length=2 * NAME_MAX + 1,
                                  description="target/memberid; URL-encode the slash (%2F)"),
                        AfterValidator(printable_name)]
JobId = Annotated[int, Path(ge=1, le=INT32_MAX)]
