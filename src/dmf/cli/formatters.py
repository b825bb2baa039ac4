"""doveadm's output formatters (`-f tab|flow|json|table|pager`), byte for byte.

Scripts written against doveadm parse this output (the worker does too), so each formatter
follows doveadm 2.3's rules exactly: which titles a column hides, how the table formatter
sizes its columns from the first 100 rows and the terminal width, how json escapes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple, Protocol, TextIO

FORMATTERS = ("tab", "flow", "json", "table", "pager")
DEFAULT_COLUMNS = 80  # table width when stdout is not a terminal
MIN_COLUMNS = 30
TABLE_BUFFER_ROWS = 100  # the table formatter sizes its columns from this many rows


class Column(NamedTuple):
    key: str  # json's member name, and the title unless `title` says otherwise
    hide_title: bool = False  # flow, pager and table omit the title (e.g. the mailbox name)
    title: str = ""  # e.g. doveadm's user column: key "username", title "Username"

    @property
    def heading(self) -> str:
        return self.title or self.key


class Printer(Protocol):
    def row(self, values: Sequence[str]) -> None: ...

    def flush(self) -> None:
        """Finish the output (also when no row was printed)."""
        ...


class TabPrinter:
    """A header row of titles (hidden or not), then one tab-separated row per item."""

    def __init__(self, columns: Sequence[Column], out: TextIO) -> None:
        self._columns, self._out = columns, out
        self._header_written = False

    def _header(self) -> None:
        if not self._header_written:
            self._out.write("\t".join(c.heading for c in self._columns) + "\n")
            self._header_written = True

    def row(self, values: Sequence[str]) -> None:
        self._header()
        self._out.write("\t".join(values) + "\n")

    def flush(self) -> None:
        self._header()


class FlowPrinter:
    """One line per item: `title=value` pairs separated by spaces; hidden titles show the value
    alone."""

    def __init__(self, columns: Sequence[Column], out: TextIO) -> None:
        self._columns, self._out = columns, out

    def row(self, values: Sequence[str]) -> None:
        parts = [value if column.hide_title else f"{column.heading}={value}"
                 for column, value in zip(self._columns, values, strict=True)]
        self._out.write(" ".join(parts) + "\n")

    def flush(self) -> None:
        pass


class PagerPrinter:
    """`title: value` lines per item, items separated by a form feed line."""

    def __init__(self, columns: Sequence[Column], out: TextIO) -> None:
        self._columns, self._out = columns, out
        self._first = True

    def row(self, values: Sequence[str]) -> None:
        if not self._first:
            self._out.write("\f\n")
        self._first = False
        for column, value in zip(self._columns, values, strict=True):
            self._out.write(value + "\n" if column.hide_title else f"{column.heading}: {value}\n")

    def flush(self) -> None:
        pass


def json_escape(value: str) -> str:
    """doveadm's json escaping: control characters and U+2028/U+2029 as \\uXXXX, the common
    ones as \\n etc., everything else (UTF-8 included) as is."""
    out: list[str] = []
    for char in value:
        code = ord(char)
        if char in _JSON_SHORT_ESCAPES:
            out.append(_JSON_SHORT_ESCAPES[char])
        elif code < 0x20 or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


_JSON_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                       '"': '\\"', "\\": "\\\\"}


class JsonPrinter:
    """One JSON array of objects, all values strings, no whitespace and no final newline."""

    def __init__(self, columns: Sequence[Column], out: TextIO) -> None:
        self._columns, self._out = columns, out
        self._first = True
        self._flushed = False

    def row(self, values: Sequence[str]) -> None:
        members = ",".join(f'"{json_escape(c.key)}":"{json_escape(v)}"'
                           for c, v in zip(self._columns, values, strict=True))
        self._out.write(("[" if self._first else ",") + "{" + members + "}")
        self._first = False

    def flush(self) -> None:
        if not self._flushed:
            self._out.write("[]" if self._first else "]")
            self._flushed = True


def table_widths(titles: Sequence[str], rows: Sequence[Sequence[str]],
                 columns: int) -> list[int]:
    """doveadm's column sizing: widest value (or title), shrunk from the right to fit the
    terminal, and any room left over given half to the last column."""
    count = len(titles)
    min_lengths = [len(t) for t in titles]
    max_lengths = [len(t) for t in titles]
    lengths = [len(t) for t in titles]
    for values in rows:
        for i, value in enumerate(values):
            size = len(value)
            min_lengths[i] = min(min_lengths[i], size)
            if size > max_lengths[i]:
                max_lengths[i] = lengths[i] = size
    total = sum(length + 1 for length in max_lengths) - 1
    while total > columns:
        before = total
        for i in range(count - 1, -1, -1):
            diff = lengths[i] - min_lengths[i]
            if total - diff <= columns:
                diff = total - columns
                lengths[i] -= diff
                total -= diff
                break
            if diff > 0:
                lengths[i] -= 1 if diff == 1 else diff // 2
        if total == before:
            break
    if total < columns:
        lengths[-1] += (columns - total) // 2
    return lengths


class TablePrinter:
    """Space-aligned columns sized from the first 100 rows; an empty value is blank padding,
    as doveadm 2.3.19 prints it (a message without flags has an empty flags cell)."""

    def __init__(self, columns: Sequence[Column], out: TextIO, width: int) -> None:
        self._columns, self._out, self._width = columns, out, width
        self._buffered: list[Sequence[str]] = []
        self._lengths: list[int] | None = None

    def _write(self, values: Sequence[str]) -> None:
        assert self._lengths is not None
        cells = [f"{value:<{length}}" for value, length in zip(values, self._lengths,
                                                               strict=True)]
        self._out.write(" ".join(cells) + "\n")

    def _flush_buffer(self) -> None:
        self._lengths = table_widths([c.heading for c in self._columns], self._buffered,
                                     self._width)
        if not all(c.hide_title for c in self._columns):
            self._write([c.heading for c in self._columns])
        for values in self._buffered:
            self._write(values)
        self._buffered = []

    def row(self, values: Sequence[str]) -> None:
        if self._lengths is None:
            if len(self._buffered) < TABLE_BUFFER_ROWS:
                self._buffered.append(list(values))
                return
            self._flush_buffer()
        self._write(values)

    def flush(self) -> None:
        if self._lengths is None:
            self._flush_buffer()


def terminal_columns(out: TextIO) -> int:
    """The width of the terminal `out` writes to, as doveadm reads it from stdout."""
    try:
        return max(MIN_COLUMNS, os.get_terminal_size(out.fileno()).columns)
    except (OSError, ValueError, AttributeError):
        return DEFAULT_COLUMNS


def make_printer(kind: str, columns: Sequence[Column], out: TextIO) -> Printer:
    """The printer for `-f kind`; `pager` pages nothing, as doveadm's pager formatter."""
    if kind == "tab":
        return TabPrinter(columns, out)
    if kind == "flow":
        return FlowPrinter(columns, out)
    if kind == "pager":
        return PagerPrinter(columns, out)
    if kind == "json":
        return JsonPrinter(columns, out)
    if kind == "table":
        return TablePrinter(columns, out, terminal_columns(out))
    raise ValueError(f"unknown formatter {kind!r}")
