"""The per-mailbox `dovecot-keywords` file: keyword names for the letters a-z in filenames.

Lines are `<index> <name>`, index 0 is letter "a". Unknown or malformed lines are skipped, as
Dovecot skips them; at most 26 keywords fit, a 27th is refused with NotPossibleError.
"""

from __future__ import annotations

from dmf.errors import NotPossibleError, Scope

MAX_KEYWORDS = 26


def parse(content: bytes) -> dict[int, str]:
    """index -> keyword name."""
    names: dict[int, str] = {}
    for line in content.decode("utf-8", "replace").splitlines():
        index, _, name = line.partition(" ")
        if index.isdigit() and int(index) < MAX_KEYWORDS and name and name not in names.values():
            names[int(index)] = name
    return names


def encode(names: dict[int, str]) -> bytes:
    return "".join(f"{index} {names[index]}\n" for index in sorted(names)).encode("utf-8")


def assign(names: dict[int, str], keyword: str) -> int:
    """The index of `keyword`, adding it to `names` (in place) at the first free index."""
    for index, name in names.items():
        if name == keyword:
            return index
    for index in range(MAX_KEYWORDS):
        if index not in names:
            names[index] = keyword
            return index
    raise NotPossibleError(f"keyword {keyword!r}: a Maildir holds at most {MAX_KEYWORDS} "
                           "keywords per mailbox", scope=Scope.MESSAGE)
