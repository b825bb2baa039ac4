"""dovecot-uidlist: the version 3 format, what Dovecot writes, and corrupt files."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dmf.errors import NotPossibleError
from dmf.mail.maildir import uidlist
from dmf.mail.maildir.uidlist import UidList, UidRecord

GUID = "adce95058084046b0826000083ecc375"
DOVECOT_WRITTEN = (
    b"3 V1795458177 N3 Gadce95058084046b0826000083ecc375\n"
    b"1 :1795458176.M93581P9736.vm,S=18,W=21\n"
    b"2 G1700009141.M656115P1002Q2.sample,S=56 W61 Pabc O3 :1795458618.M5314P23537.vm,S=56\n"
)


def test_reads_what_dovecot_writes() -> None:
    parsed, had_guid = uidlist.parse(DOVECOT_WRITTEN, "dovecot-uidlist")
    assert had_guid
    assert (parsed.uidvalidity, parsed.nextuid, parsed.guid) == (1795458177, 3, GUID)
    assert parsed.records[1] == UidRecord(1, "1795458176.M93581P9736.vm,S=18,W=21", {})
    assert parsed.records[2].fields == {"G": "1700009141.M656115P1002Q2.sample,S=56",
                                        "W": "61", "P": "abc", "O": "3"}
    assert uidlist.encode(parsed) == DOVECOT_WRITTEN


def test_next_uid_is_never_below_the_last_record() -> None:
    parsed, _ = uidlist.parse(b"3 V5 N1 G" + GUID.encode() + b"\n7 :a\n", "f")
    assert parsed.nextuid == 8


def test_header_read_sees_records_appended_after_a_stale_header(tmp_path) -> None:
    path = tmp_path / "dovecot-uidlist"
    path.write_bytes(b"3 V5 N1 G" + GUID.encode() + b"\n1 :a\n15 :b\n")
    header = uidlist.read_header(str(path))
    assert (header.uidvalidity, header.nextuid, header.guid) == (5, 16, GUID)


def test_version_1_is_read() -> None:
    parsed, had_guid = uidlist.parse(b"1 1000 5\n1 a:2,S\n4 b\n", "f")
    assert not had_guid
    assert [(r.uid, r.basename) for r in parsed.records.values()] == [(1, "a"), (4, "b")]


@pytest.mark.parametrize(("content", "line", "why"), [
    (b"3 V1 N2 G" + GUID.encode() + b"\n1 :a", 2, "truncated"),
    (b"", 1, "truncated"),
    (b"garbage\n", 1, "unsupported version"),
    (b"3 N2 G" + GUID.encode() + b"\n", 1, "bad header"),
    (b"3 V1 N2 Gxyz\n", 1, "bad mailbox GUID"),
    (b"3 V1 N5 G" + GUID.encode() + b"\n2 :a\n1 :b\n", 3, "out of order"),
    (b"3 V1 N5 G" + GUID.encode() + b"\nx :a\n", 2, "bad UID"),
    (b"3 V1 N5 G" + GUID.encode() + b"\n1 a\n", 2, "no ' :<filename>'"),
    (b"3 V1 N5 G" + GUID.encode() + b"\n1 xfield :a\n", 2, "bad field"),
    (b"3 V1 N5 G" + GUID.encode() + b"\n1 :a/b\n", 2, "bad filename"),
])
def test_corrupt_files_name_the_file_and_line(content: bytes, line: int, why: str) -> None:
    with pytest.raises(NotPossibleError) as caught:
        uidlist.parse(content, "/m/dovecot-uidlist")
    assert f"/m/dovecot-uidlist line {line}" in str(caught.value)
    assert why in str(caught.value)


basenames = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                           blacklist_characters="/:"), min_size=1, max_size=30)
field_values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                       max_size=12)


@st.composite
def uidlists(draw: st.DrawFn) -> UidList:
    uids = sorted(draw(st.sets(st.integers(1, uidlist.MAX_UID), max_size=20)))
    records = {uid: UidRecord(uid, draw(basenames),
                              draw(st.dictionaries(st.sampled_from("GSWPOX"), field_values,
                                                   max_size=3)))
               for uid in uids}
    nextuid = max([draw(st.integers(1, 2**32 - 1)), *(uid + 1 for uid in uids)])
    return UidList(draw(st.integers(1, 2**32 - 1)), nextuid,
                   draw(st.text("0123456789abcdef", min_size=32, max_size=32)), records)


@given(uidlists())
def test_encode_then_parse_is_identity(original: UidList) -> None:
    parsed, had_guid = uidlist.parse(uidlist.encode(original), "f")
    assert had_guid
    assert parsed == original
