"""The global options of doveadm's grammar, parsed once and handed to every sub-command."""

from typing import NamedTuple


class GlobalOptions(NamedTuple):
    debug: bool = False  # -D
    verbose: bool = False  # -v
    settings: tuple[tuple[str, str], ...] = ()  # -o key=value, in order given
    formatter: str | None = None  # -f tab|flow|json|table|pager
    config_file: str | None = None  # -c FILE
