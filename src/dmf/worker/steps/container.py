"""Fetch container (seed 3.6): the `userdb_container` extra field of the entry named by the job's
imapcoptions in a passwd-file (`name:password:uid:gid:gecos:home:shell:extra fields`, the extra
fields space-separated `key=value`). The value is injected as `%{mdb:container}`."""

from __future__ import annotations

from pathlib import Path

from dmf.errors import ConfigError

FIELD = "userdb_container"


def find_container(passwd_file_text: str, name: str) -> str | None:
    """The container of `name`, None when the file has no such entry or it has no container."""
    for line in passwd_file_text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":", 7)
        if fields[0] != name:
            continue
        extra = fields[7] if len(fields) > 7 else ""
        for item in extra.split():
            key, sep, value = item.partition("=")
            if sep and key == FIELD:
                return value
        return None
    return None


def read_container(path: str, name: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"container-file {path}: {exc.strerror or exc}") from exc
    return find_container(text, name)
