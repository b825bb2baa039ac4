"""The small on-disk formats: filenames, dovecot-keywords, subscriptions."""

from __future__ import annotations

import pytest

from dmf.errors import NotPossibleError
from dmf.mail.maildir import filenames, keywords, subscriptions
from dmf.mail.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN


@pytest.mark.parametrize(("name", "base", "letters"), [
    ("1.M2P3.host,S=18,W=21:2,FSa", "1.M2P3.host,S=18,W=21", "FSa"),
    ("1.M2P3.host", "1.M2P3.host", ""),
    ("1.M2P3.host:2,", "1.M2P3.host", ""),
    ("1.M2P3.host:1,experimental", "1.M2P3.host", ""),
])
def test_split(name: str, base: str, letters: str) -> None:
    assert filenames.split(name) == (base, letters)


def test_sizes_come_from_the_name() -> None:
    assert filenames.sizes("1.M2P3.host,S=18,W=21") == (18, 21)
    assert filenames.sizes("1.M2P3.host,W=21") == (None, 21)
    assert filenames.sizes("1.M2P3.host") == (None, None)


def test_letters_are_sorted_and_unknown_upper_case_letters_survive() -> None:
    letters = filenames.letters_for(frozenset({SEEN, ANSWERED, FLAGGED, DELETED, DRAFT}), [2, 0])
    assert letters == "DFRSTac"
    assert filenames.letters_for(frozenset({SEEN}), [], keep="PSb") == "PS"
    assert filenames.with_letters("x,S=1:2,S", "aF") == "x,S=1:2,Fa"
    assert filenames.with_letters("x,S=1", "") == "x,S=1:2,"


def test_new_base_is_unique_and_carries_sizes() -> None:
    first, second = filenames.new_base(10, 12), filenames.new_base(10, None)
    assert first != second
    assert filenames.sizes(first) == (10, 12)
    assert filenames.sizes(second) == (10, None)
    assert ":" not in first and "/" not in first


def test_keywords_file_round_trip_and_limits() -> None:
    names = keywords.parse(b"0 $Work\n2 Other\nbroken line\n30 Toohigh\n")
    assert names == {0: "$Work", 2: "Other"}
    assert keywords.assign(names, "Other") == 2
    assert keywords.assign(names, "New") == 1
    assert keywords.encode(names) == b"0 $Work\n1 New\n2 Other\n"
    full = {index: f"k{index}" for index in range(26)}
    with pytest.raises(NotPossibleError, match="at most 26"):
        keywords.assign(full, "one-too-many")


def test_subscriptions_are_written_as_dovecot_writes_them() -> None:
    # bytes taken from a file Dovecot 2.3.19 wrote after `doveadm mailbox subscribe`
    dovecot = b"V\t2\n\nEntw&APw-rfe\nINBOX\nA\tB\n"
    assert subscriptions.parse(dovecot, ".") == {"Entwürfe", "INBOX", "A/B"}
    assert subscriptions.parse(subscriptions.encode({"Entwürfe", "INBOX", "A/B"}), ".") == \
        {"Entwürfe", "INBOX", "A/B"}
    assert subscriptions.encode({"A/B"}) == b"V\t2\n\nA\tB\n"


def test_version_1_subscriptions_and_escapes() -> None:
    assert subscriptions.parse(b"INBOX\nA.B\n", ".") == {"INBOX", "A/B"}
    assert subscriptions.parse(subscriptions.encode({"tab\there"}), ".") == {"tab\there"}
