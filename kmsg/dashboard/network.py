"""Who is asking, and under which name: the Host / Origin allow-list and trusted proxies.

**Host allow-list (DNS rebinding).** A page on ``http://rebind.attacker.example:8000`` whose name
is made to resolve to 127.0.0.1 talks to a loopback dashboard as a same-origin page: the browser
sends ``Host: rebind.attacker.example:8000`` and lets the script read the answers. So every request
must name the dashboard by an allowed host name; the port is not compared (an attacker has to use
the real port anyway). The default list is the loopback names, ``localhost``, ``127.0.0.1`` and
``::1``; :func:`kmsg.dashboard.serve` adds the address it binds (unless a wildcard such as
``0.0.0.0``) and ``--allow-host`` adds more. ``*`` allows every name; it is refused without
credentials (``--insecure-local``), where the allow-list is the only thing keeping other sites out.

**Origin.** A request that carries an ``Origin`` header (browsers send one with every POST and
every cross-origin fetch) must come from the dashboard's own host and port; ``Origin: null``
(sandboxed frames, privacy redirects) is refused for anything but GET and HEAD. The scheme is not
compared, so a TLS proxy that is not declared trusted does not break forms.

**Trusted proxies.** ``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are read
only when the connection comes from an address in the trusted list (addresses or networks, e.g.
``10.0.0.5`` or ``10.0.0.0/8``); from anyone else they are ignored, since any client can send them.
Each header's rightmost value is taken (the one the nearest proxy wrote); for the client address,
``X-Forwarded-For`` is read from the right, skipping trusted proxies, so a client cannot choose its
own address by sending the header. The RFC 7239 ``Forwarded`` header is not read: configure the
proxy to send the ``X-Forwarded-*`` headers (nginx, Caddy, Traefik and HAProxy all can).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import Scope

from kmsg.errors import ValidationError

__all__ = [
    "ANY_HOST",
    "LOOPBACK_HOSTS",
    "WILDCARD_ADDRESSES",
    "NetworkPolicy",
    "host_name",
]

ANY_HOST: Final = "*"
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES: Final = frozenset({"", "0.0.0.0", "::"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split_authority(authority: str) -> tuple[str, int | None] | None:
    """``host[:port]`` or ``[v6][:port]`` -> (host, lower case, no brackets; port); None if bad."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        host, bracket, rest = authority[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    else:
        host, _, port_text = authority.partition(":")
    if not host:
        return None
    if not port_text:
        return host.rstrip("."), None
    if not port_text.isdigit() or int(port_text) > 65535:
        return None
    return host.rstrip("."), int(port_text)


def host_name(value: str) -> str:
    """An allow-list entry normalised: lower case, no brackets, no port, no trailing dot.

    Raises ``ValidationError`` for an entry that is not a host name or address (or ``*``).
    """
    if value.strip() == ANY_HOST:
        return ANY_HOST
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        pass
    split = _split_authority(value)
    if split is None or split[1] is not None or any(c in split[0] for c in "/?#@ "):
        raise ValidationError(f"allowed host {value!r} must be a host name or address, no port")
    return split[0]


def _network(value: str) -> Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValidationError(f"trusted proxy {value!r} must be an IP address or network") from None


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _rightmost(value: str | None) -> str | None:
    if value is None:
        return None
    last = value.rsplit(",", 1)[-1].strip()
    return last or None


@dataclass(frozen=True)
class NetworkPolicy:
    """The allowed host names and the trusted proxies of one dashboard (module docstring)."""

    allowed_hosts: frozenset[str]
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def build(
        cls, allowed_hosts: Iterable[str] | None = None, trusted_proxies: Iterable[str] = ()
    ) -> NetworkPolicy:
        """A policy from user input; ``allowed_hosts`` None means the loopback names only.

        Raises ``ValidationError`` for an entry that is not a host name, address or network.
        """
        hosts = LOOPBACK_HOSTS if allowed_hosts is None else allowed_hosts
        return cls(
            allowed_hosts=frozenset(host_name(h) for h in hosts),
            trusted_proxies=tuple(_network(p) for p in trusted_proxies),
        )

    @property
    def allows_any_host(self) -> bool:
        """True when ``*`` is in the allow-list."""
        return ANY_HOST in self.allowed_hosts

    def trusts(self, peer: str | None) -> bool:
        """True if ``peer`` (an address as the server saw it) is one of the trusted proxies."""
        address = _address(peer) if peer else None
        return address is not None and any(address in net for net in self.trusted_proxies)

    def apply_proxy_headers(self, scope: Scope) -> None:
        """Rewrite ``scope``'s scheme, client and Host from a trusted proxy's headers, in place.

        Does nothing when the connection does not come from a trusted proxy.
        """
        client = scope.get("client")
        if not client or not self.trusts(client[0]):
            return
        headers = Headers(scope=scope)
        proto = _rightmost(headers.get("x-forwarded-proto"))
        if proto is not None and proto.lower() in DEFAULT_PORTS:
            scope["scheme"] = proto.lower()
        forwarded_host = _rightmost(headers.get("x-forwarded-host"))
        if forwarded_host is not None:
            kept = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["headers"] = [*kept, (b"host", forwarded_host.encode("latin-1"))]
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                address = _address(hop)
                if address is not None:
                    scope["client"] = (str(address), 0)
                return

    def host_allowed(self, headers: Headers) -> bool:
        """True if the request's ``Host`` names the dashboard by an allowed name."""
        split = _split_authority(headers.get("host", ""))
        if split is None:
            return False
        return self.allows_any_host or split[0] in self.allowed_hosts

    @staticmethod
    def origin_allowed(headers: Headers, method: str) -> bool:
        """True if the request has no ``Origin``, or one with the request's own host and port."""
        origin = headers.get("origin")
        if origin is None:
            return True
        if origin.strip() == "null":
            return method in ("GET", "HEAD")
        parts = urlsplit(origin.strip())
        default = DEFAULT_PORTS.get(parts.scheme.lower())
        own = _split_authority(headers.get("host", ""))
        theirs = _split_authority(parts.netloc)
        if default is None or own is None or theirs is None or parts.path not in ("", "/"):
            return False
        return (own[0], own[1] or default) == (theirs[0], theirs[1] or default)
