"""The `dovecot-uidlist` file: which UID each message file has, and the mailbox's UIDVALIDITY,
next UID and GUID.

Version 3 (written by Dovecot 2.x and by us): a header `3 V<uidvalidity> N<nextuid> G<guid>
[more header fields]`, then one line per message `<uid> [<key><value>]... :<basename>` with
one-letter keys (G guid, S size, W vsize, P pop3 uidl, O pop3 order, others kept as they are).
Version 1 (`1 <uidvalidity> <nextuid>`, lines `<uid> <filename>`) is read, never written.

A corrupt or truncated file is refused with NotPossibleError naming the file and line; we never
rebuild it ourselves. Dovecot would rebuild it and renumber every message (a new UIDVALIDITY),
which breaks every client cache and, for a migration, changes what is being migrated; the
administrator decides (delete the file to let Dovecot or dmf renumber), nothing is lost.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from dmf.errors import NotPossibleError, Scope

MAX_UID = 0xFFFFFFFE
_NO_FIELDS: Mapping[str, str] = MappingProxyType({})  # shared by the many records without any


class UidRecord:
    """One message's line; equal to another with the same UID, basename and fields."""

    __slots__ = ("uid", "basename", "fields", "encoded")

    def __init__(self, uid: int, basename: str, fields: Mapping[str, str] | None = None,
                 encoded: str = "") -> None:
        self.uid = uid
        self.basename = basename  # the filename up to ":" (Dovecot's "base filename")
        self.fields: Mapping[str, str] = {} if fields is None else fields  # key letter -> value
        # its line after the UID, kept once encoded: every commit rewrites the whole file, and
        # a mailbox of thousands of messages is committed in many batches
        self.encoded = encoded

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UidRecord):
            return NotImplemented
        return (self.uid, self.basename, self.fields) == (other.uid, other.basename,
                                                          other.fields)

    def __repr__(self) -> str:
        return f"UidRecord({self.uid!r}, {self.basename!r}, {dict(self.fields)!r})"


class UidList:
    """A parsed dovecot-uidlist."""

    __slots__ = ("uidvalidity", "nextuid", "guid", "records", "header_extra")

    def __init__(self, uidvalidity: int, nextuid: int, guid: str,
                 records: dict[int, UidRecord] | None = None,
                 header_extra: list[str] | None = None) -> None:
        self.uidvalidity = uidvalidity
        self.nextuid = nextuid
        self.guid = guid  # 32 lowercase hex digits
        self.records: dict[int, UidRecord] = {} if records is None else records  # by UID
        self.header_extra: list[str] = [] if header_extra is None else header_extra  # verbatim

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UidList):
            return NotImplemented
        return (self.uidvalidity, self.nextuid, self.guid, self.records, self.header_extra) \
            == (other.uidvalidity, other.nextuid, other.guid, other.records, other.header_extra)

    def __repr__(self) -> str:
        return (f"UidList({self.uidvalidity!r}, {self.nextuid!r}, {self.guid!r}, "
                f"{self.records!r}, {self.header_extra!r})")


class UidListHeader(NamedTuple):
    uidvalidity: int
    nextuid: int
    guid: str | None


def _corrupt(path: str, line: int, why: str) -> NotPossibleError:
    return NotPossibleError(f"corrupt {path} line {line}: {why}", scope=Scope.MAILBOX)


def _parse_header(line: str, path: str) -> tuple[int, UidListHeader, list[str]]:
    tokens = line.split(" ")
    version = tokens[0]
    if version == "1":
        if len(tokens) != 3 or not tokens[1].isdigit() or not tokens[2].isdigit():
            raise _corrupt(path, 1, f"bad version 1 header {line!r}")
        return 1, UidListHeader(int(tokens[1]), int(tokens[2]), None), []
    if version != "3":
        raise _corrupt(path, 1, f"unsupported version {version!r}")
    values: dict[str, str] = {}
    extra: list[str] = []
    for token in tokens[1:]:
        if not token:
            continue
        if token[0] in "VNG" and token[0] not in values:
            values[token[0]] = token[1:]
        else:
            extra.append(token)
    uidvalidity, nextuid = values.get("V", ""), values.get("N", "")
    if not uidvalidity.isdigit() or not nextuid.isdigit() or int(uidvalidity) == 0 \
            or int(nextuid) == 0:
        raise _corrupt(path, 1, f"bad header {line!r} (needs V<uidvalidity> N<nextuid>)")
    guid = values.get("G")
    if guid is not None and not _is_guid(guid):
        raise _corrupt(path, 1, f"bad mailbox GUID {guid!r}")
    return 3, UidListHeader(int(uidvalidity), int(nextuid), guid), extra


def _is_guid(text: str) -> bool:
    return len(text) == 32 and all(char in "0123456789abcdef" for char in text)


def read_header(path: str) -> UidListHeader:
    """The header and the last record's UID, without reading the other records: what listing
    mailboxes needs. Dovecot appends records without rewriting the header, so its N can lag
    behind the last UID; the next UID is the larger of the two."""
    with open(path, "rb") as handle:
        first_line = handle.readline()
        size = handle.seek(0, 2)
        handle.seek(max(len(first_line), size - 4096))
        tail = handle.read()
    header = _parse_header(first_line.decode("utf-8", "surrogateescape").rstrip("\n"), path)[1]
    last_line = tail.rstrip(b"\n").rpartition(b"\n")[2]
    last_uid = last_line.partition(b" ")[0]
    if tail and last_uid.isdigit() and int(last_uid) >= header.nextuid:
        return UidListHeader(header.uidvalidity, int(last_uid) + 1, header.guid)
    return header


def parse(content: bytes, path: str) -> tuple[UidList, bool]:
    """Parse a whole file. Returns the list and whether it had a mailbox GUID (a version 1
    file or a header without G gets a GUID from the caller, who must then persist it)."""
    if not content.endswith(b"\n"):
        raise _corrupt(path, content.count(b"\n") + 1, "truncated (no final newline)")
    lines = content.decode("utf-8", "surrogateescape").split("\n")
    lines.pop()
    version, header, extra = _parse_header(lines[0], path)
    records: dict[int, UidRecord] = {}
    previous = 0
    for number, line in enumerate(lines[1:], start=2):
        if version == 1:
            head, _, basename = line.partition(" ")
            basename = basename.partition(":")[0]
        else:
            head, separator, basename = line.partition(" :")
            if not separator:
                raise _corrupt(path, number, f"no ' :<filename>' in {line!r}")
        fields: Mapping[str, str] = _NO_FIELDS
        if " " in head:
            uid_text, rest = head.split(" ", 1)
            if rest[:1] == "G" and " " not in rest:  # what dmf and dsync write: a GUID only
                fields = {"G": rest[1:]}
            else:
                fields = {}
                for token in rest.split(" "):
                    if token:
                        if not "A" <= token[0] <= "Z":
                            raise _corrupt(path, number, f"bad field {token!r}")
                        fields[token[0]] = token[1:]
        else:
            uid_text = head
        if not uid_text.isdigit():
            raise _corrupt(path, number, f"bad UID {uid_text!r}")
        uid = int(uid_text)
        if uid <= previous or uid > MAX_UID:
            raise _corrupt(path, number, f"UID {uid} out of order or out of range")
        if not basename or "/" in basename:
            raise _corrupt(path, number, f"bad filename {basename!r}")
        records[uid] = UidRecord(uid, basename, fields)
        previous = uid
    nextuid = max(header.nextuid, previous + 1)
    uidlist = UidList(header.uidvalidity, nextuid, header.guid or "", records, extra)
    return uidlist, header.guid is not None


def encode(uidlist: UidList) -> bytes:
    """The version 3 text Dovecot writes, records in ascending UID order."""
    header = f"3 V{uidlist.uidvalidity} N{uidlist.nextuid} G{uidlist.guid}"
    if uidlist.header_extra:
        header += " " + " ".join(uidlist.header_extra)
    lines = [header]
    records = uidlist.records
    for uid in sorted(records):
        record = records[uid]
        tail = record.encoded
        if not tail:
            fields = " ".join([key + value for key, value in record.fields.items()])
            tail = record.encoded = (f" {fields} :" if fields else " :") + record.basename
        lines.append(f"{uid}{tail}")
    lines.append("")
    return "\n".join(lines).encode("utf-8", "surrogateescape")
