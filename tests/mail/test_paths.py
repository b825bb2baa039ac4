"""dmf's str paths keep pathlib's rules: a path given spelled as str(Path(p)) would, and only
"nothing is there" answers False to exists() / is_dir() (a path that cannot be looked at is an
error, not an absent one)."""

from __future__ import annotations

import errno
import itertools
from pathlib import Path, PurePosixPath

import pytest

from dmf.mail.paths import exists, is_dir, normal_path


def test_normal_path_spells_a_path_as_pathlib_does() -> None:
    levels = ["", "/", "//", "///", ".", "..", "a", "b.c", "./", "a/", ".a"]
    for parts in itertools.product(levels, repeat=3):
        text = "".join(parts)
        assert normal_path(text) == str(PurePosixPath(text)), text


def test_exists_and_is_dir_answer_for_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    assert exists(str(tmp_path)) and is_dir(str(tmp_path))
    assert exists(str(tmp_path / "file")) and not is_dir(str(tmp_path / "file"))
    for absent in ("missing", "file/below", "nul\0name"):
        assert not exists(str(tmp_path / absent)) and not is_dir(str(tmp_path / absent))


def test_a_path_that_cannot_be_looked_at_is_an_error(tmp_path: Path) -> None:
    too_long = str(tmp_path / ("n" * 300))
    for check in (exists, is_dir):
        with pytest.raises(OSError) as raised:
            check(too_long)
        assert raised.value.errno == errno.ENAMETOOLONG
