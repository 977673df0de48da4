"""The audit's own network rules: an audited page must not reach the auditor's machine or its
private network.

A public page under audit runs in a browser on the auditor's machine: without this, its scripts
could fetch ``http://127.0.0.1:…`` or ``http://10.0.0.5/…`` (an admin panel, a metadata service,
a database's HTTP port) and send what they read on to the site. So every request and WebSocket
of an audit is checked by the addresses its host name *resolves to*, not by the name: a public
name that resolves to ``127.0.0.1`` is as private as ``127.0.0.1`` itself.

- The audited URL on this machine (loopback): everything may load, as before (local sites, the
  QA kit's test servers).
- The audited URL on a private network (a staging site on ``10.x``): private addresses may load,
  this machine's may not.
- The audited URL public: neither may.

Each host is resolved once per audit and the answer kept, so a name cannot answer "public" to
the check and "private" a moment later to the same check. The browser resolves names on its
own; where the audit starts its own Chromium (the command line's child process), the audited
host and each ``--allow-host`` are pinned to the checked addresses (:func:`pinning_rules`), so
the browser connects where the check looked. Their subdomains are not pinned.

This is the audit's routing only; the QA kit's ``pixel_page`` keeps its own rules.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from ..browser.hosts import is_tiktok_host

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route, WebSocketRoute

#: Resolves a host name to its addresses (``[]``: it does not resolve).
Resolver = Callable[[str], list[str]]
#: Where an address is: this machine, a private network, or the public internet.
Reach = Literal["loopback", "private", "public"]
_RANK: dict[Reach, int] = {"public": 0, "private": 1, "loopback": 2}


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def reach_of(address: str) -> Reach:
    """Where ``address`` is; anything not globally routable (link-local, carrier NAT,
    documentation ranges, ``0.0.0.0``) counts as private."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified:
        return "loopback"
    return "public" if ip.is_global else "private"


def pinning_rules(
    hosts: Iterable[str], resolver: Resolver = resolve
) -> tuple[str, dict[str, list[str]]]:
    """Chromium's ``--host-resolver-rules`` value that maps each of ``hosts`` to the addresses
    it resolves to now, and those addresses (for :class:`NetworkGuard`'s resolver)."""
    pinned: dict[str, list[str]] = {}
    rules = []
    for host in dict.fromkeys(hosts):
        addresses = [] if not host or _is_address(host) else resolver(host)
        if not addresses or any(reach_of(a) == "loopback" for a in addresses):
            continue  # this machine's names need no pinning: all of it may load then
        pinned[host] = addresses
        # One address to map to: IPv4 first, which every network routes.
        address = next((a for a in addresses if ":" not in a), addresses[0])
        rules.append(f"MAP {host} {f'[{address}]' if ':' in address else address}")
    return ", ".join(rules), pinned


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").strip("[]")


@dataclass
class NetworkGuard:
    """The private-network rule of one audit (see the module's docstring).

    :ivar reach: where the audited URL is: what it may load up to.
    :ivar refused: ``(url, address)`` of each request or WebSocket refused, in order.
    """

    reach: Reach
    resolver: Resolver = resolve
    refused: list[tuple[str, str]] = field(default_factory=list)
    _seen: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def for_url(cls, url: str, resolver: Resolver = resolve) -> NetworkGuard:
        """The guard of an audit of ``url``: its reach is the most private of its addresses."""
        guard = cls("public", resolver)
        addresses = guard.addresses(_host(url))
        reaches = [reach_of(address) for address in addresses]
        guard.reach = max(reaches, key=_RANK.__getitem__, default="public")
        return guard

    def addresses(self, host: str) -> list[str]:
        if host not in self._seen:
            self._seen[host] = self.resolver(host)
        return self._seen[host]

    def refuses(self, url: str) -> str | None:
        """The address that keeps ``url`` from loading, or ``None`` when it may load."""
        parts = urlsplit(url)
        host = _host(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not host or is_tiktok_host(host):
            return None  # data:, blob:; TikTok's hosts are answered by the recorder
        for address in self.addresses(host):
            if _RANK[reach_of(address)] > _RANK[self.reach]:
                return address
        return None

    def _refuse(self, url: str, address: str) -> None:
        if len(self.refused) < 1000:
            self.refused.append((url[:2000], address))

    def _route(self, route: Route) -> None:
        url = route.request.url
        address = self.refuses(url)
        if address is None:
            route.fallback()
        else:
            self._refuse(url, address)
            route.abort("addressunreachable")

    def _route_socket(self, socket_route: WebSocketRoute) -> None:
        address = self.refuses(socket_route.url)
        if address is None:
            socket_route.connect_to_server()
        else:
            self._refuse(socket_route.url, address)
            socket_route.close(code=1008, reason="blocked by the audit")

    def install(self, context: BrowserContext) -> None:
        """Check every request and WebSocket of ``context``; call it after the recorder is
        installed (the last route installed is asked first, and passes on what it allows)."""
        if self.reach == "loopback":
            return
        context.route("**/*", self._route)
        context.route_web_socket("**/*", self._route_socket)
