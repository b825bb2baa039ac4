"""Maildir filenames: `<base>[,S=<size>][,W=<vsize>][:2,<flag letters>]`.

System flags are the upper-case letters D F R S T (P, "passed", and other letters are kept when
flags change but mean nothing to IMAP); keywords are the lower-case letters a-z, mapped to names
by `dovecot-keywords`. Letters are written sorted, as Dovecot writes them.
"""

from __future__ import annotations

import os
import re
import time
from itertools import count

from dmf.mail.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN

FLAG_BY_LETTER = {"D": DRAFT, "F": FLAGGED, "R": ANSWERED, "S": SEEN, "T": DELETED}
LETTER_BY_FLAG = {flag: letter for letter, flag in FLAG_BY_LETTER.items()}
INFO_SEPARATOR = ":"
FLAGS_PREFIX = "2,"
TMP_PREFIX = "dmf."  # our files in tmp/: recognisable, so a killed run's leftovers can go


def split(filename: str) -> tuple[str, str]:
    """(basename, flag letters) of a filename; letters are "" when there is no `:2,` part."""
    base, _, info = filename.partition(INFO_SEPARATOR)
    return base, info[2:] if info.startswith(FLAGS_PREFIX) else ""


_SIZES = re.compile(r",S=(\d+)(?:,W=(\d+))?")
_VSIZE = re.compile(r",W=(\d+)")


def sizes(base: str) -> tuple[int | None, int | None]:
    """(size, vsize) from `,S=` and `,W=` in a basename, None where absent."""
    match = _SIZES.search(base)
    if match is None:
        vsize_match = _VSIZE.search(base)
        return None, int(vsize_match[1]) if vsize_match else None
    size, vsize = match.groups()
    if vsize is None:
        vsize_match = _VSIZE.search(base)
        return int(size), int(vsize_match[1]) if vsize_match else None
    return int(size), int(vsize)


def with_letters(filename: str, letters: str) -> str:
    """The filename with its flag letters replaced (adds `:2,` if missing)."""
    base, _ = split(filename)
    return f"{base}{INFO_SEPARATOR}{FLAGS_PREFIX}{''.join(sorted(set(letters)))}"


def letters_for(flags: frozenset[str], keyword_indexes: list[int], keep: str = "") -> str:
    """Sorted letters for system flags and keyword indexes; `keep` holds letters of the old
    name that carry no IMAP meaning (such as P) and must survive a flag change."""
    letters = {LETTER_BY_FLAG[flag] for flag in flags if flag in LETTER_BY_FLAG}
    letters.update(chr(ord("a") + index) for index in keyword_indexes)
    letters.update(char for char in keep if char.isupper() and char not in FLAG_BY_LETTER)
    return "".join(sorted(letters))


def flag_sets(letters: str, names: dict[int, str]) -> tuple[frozenset[str], frozenset[str]]:
    """(system flags, keyword names) of the flag letters of a filename."""
    flags = frozenset(FLAG_BY_LETTER[char] for char in letters if char in FLAG_BY_LETTER)
    keywords = frozenset(names[ord(char) - 97] for char in letters
                         if "a" <= char <= "z" and ord(char) - 97 in names)
    return flags, keywords


def _hostname() -> str:
    return os.uname().nodename.replace("/", r"\057").replace(":", r"\072")


HOST = _hostname()  # as it appears in the names we give
_SEQUENCE = count(1)
_PID = os.getpid()  # asked once, not once per message; a forked child asks again


def _forked() -> None:
    global _PID
    _PID = os.getpid()


os.register_at_fork(after_in_child=_forked)


def new_base(size: int, vsize: int | None) -> str:
    """A unique basename in Dovecot's form `<secs>.M<usecs>P<pid>Q<n>.<host>,S=..,W=..`."""
    now = time.time()
    seconds = int(now)
    base = (f"{seconds}.M{int((now - seconds) * 1_000_000)}P{_PID}Q{next(_SEQUENCE)}."
            f"{HOST},S={size}")
    return base if vsize is None else f"{base},W={vsize}"
