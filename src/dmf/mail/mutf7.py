"""IMAP modified UTF-7 (RFC 3501 5.1.3), the on-disk and on-wire form of mailbox names.

Decoding is strict: a name that is not the one canonical encoding of some Unicode string
(a `&` without `-`, base64 with stray bits, printable ASCII inside a shift, two adjacent shifts,
lone surrogates, raw 8-bit or control bytes) is refused, because accepting it would give two
different on-disk names the same mailbox name and lose one of them in a sync.
"""

from __future__ import annotations

import binascii
import re

from dmf.errors import NotPossibleError

_TOKEN = re.compile(r"&([A-Za-z0-9+,]*)-|([\x20-\x25\x27-\x7e]+)")


def _base64(raw: bytes) -> str:
    """Modified base64: `,` for `/`, no padding (binascii, not the base64 module: start-up)."""
    return binascii.b2a_base64(raw, newline=False).rstrip(b"=").decode("ascii").replace("/", ",")


def _is_direct(char: str) -> bool:
    return "\x20" <= char <= "\x7e"


def encode(name: str) -> str:
    """Unicode name -> modified UTF-7."""
    out: list[str] = []
    shifted: list[str] = []

    def flush() -> None:
        if shifted:
            raw = "".join(shifted).encode("utf-16-be", "surrogatepass")
            out.append("&" + _base64(raw) + "-")
            shifted.clear()

    for char in name:
        if _is_direct(char):
            flush()
            out.append("&-" if char == "&" else char)
        else:
            shifted.append(char)
    flush()
    return "".join(out)


def _decode_shift(digits: str, name: str) -> str:
    if not digits:
        return "&"
    padded = digits.replace(",", "/") + "=" * (-len(digits) % 4)
    try:
        raw = binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error as exc:
        raise NotPossibleError(f"invalid modified UTF-7 mailbox name {name!r}: {exc}") from None
    if len(raw) % 2 or _base64(raw) != digits:
        raise NotPossibleError(f"invalid modified UTF-7 mailbox name {name!r}: non-canonical "
                               "base64")
    try:
        text = raw.decode("utf-16-be")
    except UnicodeDecodeError:
        raise NotPossibleError(f"invalid modified UTF-7 mailbox name {name!r}: bad UTF-16") \
            from None
    if any(_is_direct(char) for char in text):
        raise NotPossibleError(f"invalid modified UTF-7 mailbox name {name!r}: printable ASCII "
                               "must not be encoded")
    return text


def decode(name: str) -> str:
    """Modified UTF-7 -> Unicode; NotPossibleError naming the name if it is not canonical."""
    if "&" not in name:
        if not all(_is_direct(char) for char in name):
            raise NotPossibleError(f"invalid modified UTF-7 mailbox name {name!r}: "
                                   "characters outside printable ASCII")
        return name
    out: list[str] = []
    position = 0
    previous_shift = False
    while position < len(name):
        match = _TOKEN.match(name, position)
        if match is None:
            raise NotPossibleError(f"invalid modified UTF-7 mailbox name {name!r} at offset "
                                   f"{position}")
        if match.group(2) is not None:
            out.append(match.group(2))
            previous_shift = False
        else:
            digits = match.group(1)
            if digits and previous_shift:
                raise NotPossibleError(f"invalid modified UTF-7 mailbox name {name!r}: "
                                       "adjacent encoded runs")
            out.append(_decode_shift(digits, name))
            previous_shift = bool(digits)
        position = match.end()
    return "".join(out)
