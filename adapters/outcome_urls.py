"""Where a call's outcome may be POSTed: a request's ``outcome_url`` is the caller's choice,
so the worker decides which destinations it will connect to.

Without a check, ``outcome_url`` is a request forgery path: the worker (inside the
customer's network) would POST to ``http://10.0.0.5/admin`` or the cloud metadata service
at ``169.254.169.254`` for whoever can start a call. The rules:

- ``OUTCOME_URL_ALLOWED_HOSTS`` empty (the default): any host whose every address is public;
  private, loopback, link-local, multicast and reserved addresses are refused.
- listed: only those hosts (names or IP literals, case-insensitive), and those may be
  private: listing a host is how an internal receiver is allowed.
- ``https`` unless the host is listed: an outcome carries the transcript, which must not
  cross the internet in clear; an internal receiver behind a listed name may use ``http``.
- an IPv6 address that carries an IPv4 one (IPv4-mapped, -compatible and -translated forms,
  NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) is judged by the IPv4 address it
  reaches: ``64:ff9b::10.0.0.1`` is 10.0.0.1 through a translator. The local-use NAT64
  prefix ``64:ff9b:1::/48`` is refused whole: where its IPv4 sits depends on how the
  operator cut the prefix (RFC 8215), and it only ever leads into the operator's network.

When a URL breaks the address rule and the https rule at once, the address rule is named:
switching to https would not make it acceptable.

The check runs on the resolved addresses, once when the request is validated (a clear,
early refusal naming ``outcome_url`` and the rule) and again at delivery time, when the
connection goes to the very address that was checked, so a DNS answer that changes in
between (DNS rebinding) cannot move the delivery elsewhere. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from outbound_calls_client.errors import InvalidCallRequest

FIELD = "outcome_url"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutcomeUrlRefused(InvalidCallRequest):
    """The destination breaks a rule; the message names ``outcome_url`` and the rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(FIELD, rule, message)


class OutcomeUrlUnresolved(Exception):
    """The host has no address right now: maybe transient, so a delivery may retry."""


@dataclass(frozen=True)
class OutcomeTarget:
    """A checked destination: connect to ``address``, name ``host`` (Host header, TLS)."""

    url: str
    host: str
    address: IPAddress

    @property
    def connect_url(self) -> str:
        """``url`` with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        return parts._replace(netloc=netloc).geturl()


_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a packet to ``address`` ends up at or passes through."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if address in _IPV4_COMPATIBLE or address in _IPV4_TRANSLATED or address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(address)
        if not all(is_public_address(v4) for v4 in embedded):
            return False
        if address.ipv4_mapped is not None:
            # ::ffff:0:0/96 is not "global" itself, but the packet goes to the IPv4 address.
            return True
    return address.is_global and not address.is_multicast


class OutcomeUrlPolicy:
    """The worker's rule for outcome destinations (``OUTCOME_URL_ALLOWED_HOSTS``)."""

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        self._allowed = frozenset(h.strip().strip("[]").lower() for h in allowed_hosts if h.strip())

    def _host_of(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutcomeUrlRefused("scheme", "must be an http or https URL with a host")
        if parts.username or parts.password:
            raise OutcomeUrlRefused("credentials", "must not carry a user name or password")
        return parts.hostname.lower()

    def check_host(self, url: str) -> str:
        """The URL's host, refused at once when an allow-list is set and it is not listed."""
        host = self._host_of(url)
        if self._allowed and host not in self._allowed:
            raise OutcomeUrlRefused(
                "allowed_hosts", f"host {host!r} is not in OUTCOME_URL_ALLOWED_HOSTS"
            )
        return host

    def check_transport(self, url: str, host: str) -> None:
        """``https``, unless the host is listed (an internal receiver may use plain http)."""
        if host not in self._allowed and urlsplit(url).scheme != "https":
            raise OutcomeUrlRefused(
                "https",
                f"must be an https URL: the outcome carries the transcript; list host {host!r} "
                "in OUTCOME_URL_ALLOWED_HOSTS to allow http",
            )

    def check_address(self, host: str, address: IPAddress) -> None:
        if host in self._allowed or is_public_address(address):
            return
        raise OutcomeUrlRefused(
            "public_address",
            f"host {host!r} resolves to {address}, a private, loopback or link-local "
            "address; list the host in OUTCOME_URL_ALLOWED_HOSTS to allow it",
        )

    async def resolve(self, url: str) -> OutcomeTarget:
        """The address to connect to for ``url``, every address of the host checked.

        Raises :class:`OutcomeUrlRefused` (final) or :class:`OutcomeUrlUnresolved`.
        """
        host = self.check_host(url)
        port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as err:
                # Validation lets an unresolved host through (it may resolve later), but never
                # an http one: that rule needs no address.
                self.check_transport(url, host)
                raise OutcomeUrlUnresolved(f"host {host!r} does not resolve: {err}") from None
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            self.check_transport(url, host)
            raise OutcomeUrlUnresolved(f"host {host!r} has no address")
        # Every address, not only the first: a name with one public and one private address
        # would otherwise be a coin toss.
        for address in addresses:
            self.check_address(host, address)
        self.check_transport(url, host)
        return OutcomeTarget(url=url, host=host, address=addresses[0])
