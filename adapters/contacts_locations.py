"""Where a campaign's contacts may be read from: ``contacts.location`` is the campaign
starter's choice, so the worker decides which files and hosts it will read.

Without a check, the location is a way to make the worker read any file it can open
(``/etc/passwd``, a key file) or fetch from inside the customer's network
(``http://10.0.0.5/admin``, the cloud metadata service) for whoever can start a campaign.
The rules, from ``CONTACTS_ALLOWED_LOCATIONS`` (comma-separated entries):

- an absolute directory (``/contacts``): files under it may be read (the path is resolved
  first, so ``..`` and symbolic links cannot leave it). No directory listed: no file at all.
- a host name (``files.example.com``): https URLs of that host; a ``scheme://host[:port]``
  prefix (``http://10.0.0.7:8080``): URLs of exactly that scheme, host and port. Listed
  hosts may be private (that is how an internal file server is allowed), and ``http`` is
  read only from a listed ``http://`` prefix.
- no host listed: https URLs of hosts whose every address is public (the outcome URL's rule,
  adapters/outcome_urls.py).

Redirects are never followed (activities/contacts.py): a redirect is another location the
server chose, and the file's URL is the starter's to give; the refusal names the target.
The download connects to the very address that was checked (DNS rebinding cannot move it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# One rule for what is public, shared with outcome URLs (its translated IPv6 forms included).
from adapters.outcome_urls import IPAddress, OutcomeTarget, is_public_address
from outbound_calls_client.errors import InvalidCallRequest

FIELD = "contacts.location"
SETTING = "CONTACTS_ALLOWED_LOCATIONS"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ContactsLocationRefused(InvalidCallRequest):
    """The location breaks a rule; the message names ``contacts.location`` and the rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(FIELD, rule, message)


class ContactsHostUnresolved(Exception):
    """The host has no address right now: maybe transient, so the read may be retried."""


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int


def _origin(url: str) -> _Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    return _Origin(scheme, host, parts.port or _DEFAULT_PORTS.get(scheme, 0))


class ContactsLocationPolicy:
    """The worker's rule for contacts locations (``CONTACTS_ALLOWED_LOCATIONS``)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        directories: list[Path] = []
        hosts: set[str] = set()
        origins: set[_Origin] = set()
        for raw in allowed:
            entry = raw.strip()
            if not entry:
                continue
            if "://" in entry:
                origin = _origin(entry)
                if origin.scheme not in _DEFAULT_PORTS or not origin.host:
                    raise ValueError(f"{SETTING}: {entry!r} is not an http(s)://host[:port] prefix")
                if urlsplit(entry).path not in ("", "/"):
                    raise ValueError(f"{SETTING}: {entry!r} has a path; give scheme://host[:port]")
                origins.add(origin)
            elif entry.startswith("/"):
                directories.append(Path(os.path.realpath(entry)))
            elif "/" in entry:
                raise ValueError(
                    f"{SETTING}: {entry!r} is neither a host nor an absolute directory"
                )
            else:
                hosts.add(entry.strip("[]").lower())
        self._directories = tuple(directories)
        self._hosts = frozenset(hosts)
        self._origins = frozenset(origins)

    def check_path(self, location: str) -> Path:
        """The file to open for ``location``, refused unless under a listed directory."""
        if urlsplit(location).scheme and not location.startswith("/"):
            raise ContactsLocationRefused(
                "scheme", "must be an absolute path on the workers or an https URL"
            )
        if not location.startswith("/"):
            raise ContactsLocationRefused(
                "absolute_path", "a path must be absolute: every worker opens the same one"
            )
        path = Path(os.path.realpath(location))
        if any(path.is_relative_to(directory) for directory in self._directories):
            return path
        listed = ", ".join(str(d) for d in self._directories) or "none is listed"
        raise ContactsLocationRefused(
            "allowed_locations",
            f"{location} is not under a directory listed in {SETTING} ({listed})",
        )

    def _listed(self, origin: _Origin) -> bool:
        return origin in self._origins or (origin.scheme == "https" and origin.host in self._hosts)

    def check_url(self, url: str) -> _Origin:
        """The URL's origin, refused at once for its scheme, credentials or the allow-list."""
        parts = urlsplit(url)
        origin = _origin(url)
        if origin.scheme not in _DEFAULT_PORTS or not origin.host:
            raise ContactsLocationRefused("scheme", "must be an https URL with a host")
        if parts.username or parts.password:
            raise ContactsLocationRefused("credentials", "must not carry a user name or password")
        if self._listed(origin):
            return origin
        if origin.scheme != "https":
            raise ContactsLocationRefused(
                "https",
                f"must be an https URL; list {origin.scheme}://{parts.netloc} in {SETTING} "
                "to read plain http from it",
            )
        if self._hosts or self._origins:
            raise ContactsLocationRefused(
                "allowed_locations", f"host {origin.host!r} is not listed in {SETTING}"
            )
        return origin

    async def resolve(self, url: str) -> OutcomeTarget:
        """The address to download ``url`` from, every address of an unlisted host public.

        Raises :class:`ContactsLocationRefused` (final) or :class:`ContactsHostUnresolved`.
        """
        origin = self.check_url(url)
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(origin.host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    origin.host, origin.port, type=socket.SOCK_STREAM
                )
            except OSError as err:
                raise ContactsHostUnresolved(
                    f"host {origin.host!r} does not resolve: {err}"
                ) from None
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise ContactsHostUnresolved(f"host {origin.host!r} has no address")
        if not self._listed(origin):
            for address in addresses:
                if not is_public_address(address):
                    raise ContactsLocationRefused(
                        "public_address",
                        f"host {origin.host!r} resolves to {address}, a private, loopback or "
                        f"link-local address; list the host in {SETTING} to allow it",
                    )
        return OutcomeTarget(url=url, host=origin.host, address=addresses[0])
