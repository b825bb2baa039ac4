"""The `subscriptions` file in Dovecot 2.3's format: a `V\t2\n\n` header, then one storage name
per line (modified UTF-7) with its hierarchy levels separated by tabs. Version 1 files (no
header, levels separated by the layout's separator) are read too. Tabs and line ends inside a
level are escaped with \\001 as Dovecot's tabescape does."""

from __future__ import annotations

from dmf.errors import NotPossibleError
from dmf.mail import mutf7
from dmf.mail.model import HIERARCHY_SEPARATOR

HEADER = b"V\t2\n\n"
_ESCAPES = {"\x01": "\x011", "\t": "\x01t", "\r": "\x01r", "\n": "\x01n"}
_UNESCAPES = {value[1]: key for key, value in _ESCAPES.items()}


def _escape(level: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in level)


def _unescape(level: str) -> str:
    out = []
    chars = iter(level)
    for char in chars:
        out.append(_UNESCAPES.get(next(chars, ""), "") if char == "\x01" else char)
    return "".join(out)


def _decoded(level: str) -> str:
    try:
        return mutf7.decode(level)
    except NotPossibleError:  # a name Dovecot wrote without encoding: keep it as it is
        return level


def parse(content: bytes, separator: str) -> frozenset[str]:
    version2 = content.startswith(HEADER)
    text = content[len(HEADER):] if version2 else content
    names = set()
    for line in text.decode("utf-8", "surrogateescape").split("\n"):
        if not line:
            continue
        levels = [_unescape(level) for level in line.split("\t")] if version2 \
            else line.split(separator)
        name = HIERARCHY_SEPARATOR.join(_decoded(level) for level in levels)
        names.add("INBOX" if name.upper() == "INBOX" else name)
    return frozenset(names)


def encode(names: frozenset[str] | set[str]) -> bytes:
    lines = ["\t".join(_escape(mutf7.encode(level)) for level in name.split(HIERARCHY_SEPARATOR))
             for name in sorted(names)]
    return HEADER + "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
