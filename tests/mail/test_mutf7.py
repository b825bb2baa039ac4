"""Modified UTF-7 against IMAPClient's implementation as an independent oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imapclient import imap_utf7

from dmf.errors import NotPossibleError
from dmf.mail import mutf7

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@pytest.mark.parametrize(("name", "encoded"), [
    ("Entwürfe", "Entw&APw-rfe"), ("R&D", "R&-D"), ("~R&D", "~R&-D"), ("日本語", "&ZeVnLIqe-"),
    ("Été 2026", "&AMk-t&AOk- 2026"), ("INBOX", "INBOX"), ("🎉", "&2DzfiQ-"), ("", ""),
])
def test_known_names(name: str, encoded: str) -> None:
    assert mutf7.encode(name) == encoded
    assert mutf7.decode(encoded) == name


@given(names)
def test_encoding_matches_imapclient_and_round_trips(name: str) -> None:
    encoded = mutf7.encode(name)
    assert encoded == imap_utf7.encode(name).decode("ascii")
    assert mutf7.decode(encoded) == name


@given(names)
def test_decoding_matches_imapclient(name: str) -> None:
    encoded = imap_utf7.encode(name)
    assert mutf7.decode(encoded.decode("ascii")) == imap_utf7.decode(encoded)


@pytest.mark.parametrize("bad", [
    "&", "a&Jjo", "&AGE-", "&Jjo-&Jjo-", "é", "tab\there", "&AA-", "&2D0-", "&Jj!-",
])
def test_strict_decoding_refuses_non_canonical_names(bad: str) -> None:
    with pytest.raises(NotPossibleError, match="modified UTF-7"):
        mutf7.decode(bad)
