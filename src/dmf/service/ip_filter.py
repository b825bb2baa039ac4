"""The `micronaut.security.ip-patterns` allow list: which client addresses may talk to a service.

Patterns are an exact address (`127.0.0.1`, `::1`), a dotted IPv4 pattern with `*` for whole
octets (`192.168.1.*`, as the seed writes them), or a CIDR network (`10.0.0.0/8`, `fd00::/8`).
Parsing is pure and happens when the configuration is loaded, so a bad pattern stops the
service at start instead of locking everyone out later. The middleware answers 403 before any
route or authentication runs, so a refused client learns nothing about the service.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class OctetPattern:
    """`192.168.1.*`: each of the four octets is a number or `*`."""

    octets: tuple[int | None, ...]

    def matches(self, address: Address) -> bool:
        if not isinstance(address, ipaddress.IPv4Address):
            return False
        return all(want is None or want == got
                   for want, got in zip(self.octets, address.packed, strict=True))


@dataclass(frozen=True, slots=True)
class NetworkPattern:
    network: Network

    def matches(self, address: Address) -> bool:
        return address.version == self.network.version and address in self.network


IpPattern = OctetPattern | NetworkPattern


def parse_ip_pattern(text: str) -> IpPattern:
    """One pattern of the allow list; ValueError names what is wrong with it."""
    text = text.strip()
    if "*" in text:
        parts = text.split(".")
        if len(parts) != 4:
            raise ValueError(f"{text!r}: a wildcard pattern needs four dotted octets")
        octets: list[int | None] = []
        for part in parts:
            if part == "*":
                octets.append(None)
            elif part.isdigit() and int(part) <= 255:
                octets.append(int(part))
            else:
                raise ValueError(f"{text!r}: octet {part!r} is neither 0-255 nor *")
        return OctetPattern(tuple(octets))
    try:
        return NetworkPattern(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"{text!r}: not an IP address, CIDR network or a.b.c.* pattern") \
            from None


def address_allowed(host: str | None, patterns: Iterable[IpPattern]) -> bool:
    """An unparsable or missing peer address (a Unix socket) is never allowed."""
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(pattern.matches(address) for pattern in patterns)


class IpFilterMiddleware:
    """ASGI middleware refusing HTTP and WebSocket peers outside the patterns with 403."""

    def __init__(self, app: ASGIApp, patterns: Iterable[IpPattern]) -> None:
        self.app = app
        self.patterns = tuple(patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if address_allowed(client[0] if client else None, self.patterns):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": "client address not allowed"}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
