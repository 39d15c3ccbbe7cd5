"""Where a call's outcome may be POSTed: a request's ``outcome_url`` is the caller's choice,
so the worker decides which destinations it will connect to.

Without a check, ``outcome_url`` is a request forgery path: the worker (inside the
customer's network) would POST to ``http://10.0.0.5/admin`` or the cloud metadata service
at ``169.254.169.254`` for whoever can start a call. The rules:

- ``OUTCOME_URL_ALLOWED_HOSTS`` empty (the default): any host whose every address is public;
  private, loopback, link-local, multicast and reserved addresses are refused.
- listed: only those hosts (names or IP literals, case-insensitive), and those may be
  private: listing a host is how an internal receiver is allowed.

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


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _is_public(address.ipv4_mapped)
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

    def check_address(self, host: str, address: IPAddress) -> None:
        if host in self._allowed or _is_public(address):
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
                raise OutcomeUrlUnresolved(f"host {host!r} does not resolve: {err}") from None
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise OutcomeUrlUnresolved(f"host {host!r} has no address")
        # Every address, not only the first: a name with one public and one private address
        # would otherwise be a coin toss.
        for address in addresses:
            self.check_address(host, address)
        return OutcomeTarget(url=url, host=host, address=addresses[0])
