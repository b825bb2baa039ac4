"""Bulk submission: a CSV of users, one job per row, validated like a single submission.

The header names the columns (any order): `uid` and `source` are required, and `target`,
`ruid`, `email`, `sourcehost`, `password`, `imapcoptions`, `exclude`, `phase`, `priority` are
optional (`target` falls back to the form's target). An empty cell is an absent value; every
other cell is kept verbatim. One bad row rejects the whole file, naming the row (counted as
lines after the header) and the column, never the cell's content: it may be a password.
"""

from __future__ import annotations

import csv
import io

from pydantic import ValidationError

from dmf.api.schemas import JobSubmission
from dmf.migration_db.records import InvalidValueError

MAX_ROWS = 100_000

# CSV column -> JobSubmission key
COLUMNS = {
    "target": "target", "uid": "uid", "ruid": "ruid", "email": "email", "source": "source",
    "sourcehost": "sourceHost", "password": "password", "imapcoptions": "imapcoptions",
    "exclude": "exclude", "phase": "phase", "priority": "priority",
}
REQUIRED = ("uid", "source")


def decode_upload(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidValueError(f"CSV: not UTF-8 (byte {exc.start})") from None


def parse_job_csv(text: str, default_target: str) -> list[JobSubmission]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidValueError("CSV: empty file, expected a header row") from None
    except csv.Error as exc:
        raise InvalidValueError(f"CSV header: {exc}") from None
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise InvalidValueError(f"CSV header: unknown column {unknown[0]!r} "
                                f"(known: {', '.join(COLUMNS)})")
    if len(set(header)) != len(header):
        raise InvalidValueError("CSV header: a column is named twice")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InvalidValueError(f"CSV header: missing required column {missing[0]!r}")
    submissions: list[JobSubmission] = []
    try:
        for row_number, cells in enumerate(reader, start=1):
            if not cells:
                continue
            if len(submissions) >= MAX_ROWS:
                raise InvalidValueError(f"CSV: more than {MAX_ROWS} rows")
            if len(cells) != len(header):
                raise InvalidValueError(f"CSV row {row_number}: {len(cells)} cells, "
                                        f"the header has {len(header)}")
            submissions.append(_submission(row_number, header, cells, default_target))
    except csv.Error as exc:
        raise InvalidValueError(f"CSV row {reader.line_num}: {exc}") from None
    if not submissions:
        raise InvalidValueError("CSV: no rows after the header")
    return submissions


def _submission(row_number: int, header: list[str], cells: list[str],
                default_target: str) -> JobSubmission:
    values: dict[str, str] = {"target": default_target}
    values.update({COLUMNS[name]: cell for name, cell in zip(header, cells, strict=True)
                   if cell != ""})
    try:
        return JobSubmission.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        column = next((name for name, key in COLUMNS.items() if (key,) == first["loc"][:1]),
                      ".".join(str(part) for part in first["loc"]))
        raise InvalidValueError(f"CSV row {row_number}, column {column!r}: {first['msg']}") \
            from None
