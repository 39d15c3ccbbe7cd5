"""Read a campaign's contacts file: once whole (checksum, bad rows), then a page at a time.

The list never enters a workflow: the campaign keeps only the checksum and a position, and
each page is read again from the file. A page whose file no longer has the checksum taken at
the start is refused, so a file edited mid-campaign is never half-read as another list.

The scan of a file (checksum and position index) is cached per worker by (path, size,
modification time): a page then costs a seek and at most ``INDEX_EVERY`` extra records, not
a hash of 100,000 rows. A URL is downloaded into a cache file, revalidated on every page
with its ETag or Last-Modified, and fetched again when the server has no validator.

Within the worker's rules: the location must be one ``CONTACTS_ALLOWED_LOCATIONS`` allows
(adapters/contacts_locations.py), redirects are refused rather than followed (a redirect is
a location the server chose, not the starter: it would need every rule again, and the file's
own URL is always there to give instead), a file over ``CONTACTS_MAX_BYTES`` or with a line
over ``CONTACTS_MAX_LINE_BYTES`` is refused as soon as the read gets there, and both
activities heartbeat, so a worker that dies mid-read is noticed within the campaign's
heartbeat timeout rather than the read's 30 minutes. Each refusal is final: it fails the
campaign's start, naming the rule and the setting, before any call is placed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeats import heartbeating
from adapters.contacts_file import read_page_at, scan_path
from adapters.contacts_locations import (
    ContactsHostUnresolved,
    ContactsLocationPolicy,
    ContactsLocationRefused,
)
from adapters.outcome_urls import OutcomeTarget
from calls.contacts_file import (
    DEFAULT_LIMITS,
    ContactsFileError,
    FileIndex,
    ReadLimits,
    too_large,
)
from outbound_calls_client.contacts import ContactsOpened, ContactSource, ContactsPage, PageRequest

CONTACTS_FILE_ERROR = "ContactsFileError"
CONTACTS_CHANGED_ERROR = "ContactsFileChanged"
DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class _Cached:
    stamp: tuple[int, int]  # (size, mtime_ns)
    index: FileIndex


@dataclass
class _Download:
    path: Path
    etag: str | None = None
    last_modified: str | None = None


class ContactActivities:
    def __init__(
        self,
        policy: ContactsLocationPolicy | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
        cache_dir: Path | None = None,
    ) -> None:
        self._policy = policy or ContactsLocationPolicy()
        self._limits = limits
        self._scans: dict[str, _Cached] = {}
        self._downloads: dict[str, _Download] = {}
        self._cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="contacts-"))
        self._lock = asyncio.Lock()

    @activity.defn(name="open_contacts")
    async def open_contacts(self, source: ContactSource) -> ContactsOpened:
        """Checksum, record count and bad rows of the file (read whole, once)."""
        async with heartbeating():
            path = await self._local(source)
            index = await self._index(path, source)
        return index.opened

    @activity.defn(name="read_contacts_page")
    async def read_contacts_page(self, request: PageRequest) -> ContactsPage:
        async with heartbeating():
            return await self._page(request)

    async def _page(self, request: PageRequest) -> ContactsPage:
        source = request.source
        path = await self._local(source)
        # The file was read whole at the start: one this worker cannot open now is a mount
        # or a worker out of step, not the user's path. Retried (FILE_RETRY in the campaign),
        # another worker or the mount's return picks the page up.
        index = await self._index(path, source, unreadable_is_final=False)
        if index.checksum != request.checksum:
            raise ApplicationError(
                f"contacts file {source.location} changed since the campaign started "
                f"(sha256 {request.checksum[:12]}... then, {index.checksum[:12]}... now); "
                "start a new campaign with the new file",
                type=CONTACTS_CHANGED_ERROR,
                non_retryable=True,
            )
        return await asyncio.to_thread(
            read_page_at, path, source, index, request.first, request.count, self._limits
        )

    async def _index(
        self, path: Path, source: ContactSource, *, unreadable_is_final: bool = True
    ) -> FileIndex:
        try:
            stat = await asyncio.to_thread(path.stat)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise _file_error(source, reason, final=unreadable_is_final) from None
        stamp = (stat.st_size, stat.st_mtime_ns)
        key = f"{path}|{source.format}|{source.template.model_dump_json()}"
        cached = self._scans.get(key)
        if cached is not None and cached.stamp == stamp:
            return cached.index
        try:
            index = await asyncio.to_thread(scan_path, path, source, self._limits)
        except ContactsFileError as exc:
            raise _file_error(source, str(exc), readable=True) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise _file_error(source, reason, final=unreadable_is_final) from None
        self._scans[key] = _Cached(stamp, index)
        return index

    async def _local(self, source: ContactSource) -> Path:
        try:
            if not source.is_url:
                return self._policy.check_path(source.location)
            target = await self._policy.resolve(source.location)
        except ContactsLocationRefused as exc:
            raise _file_error(source, str(exc), readable=True) from None
        except ContactsHostUnresolved as exc:
            raise ApplicationError(
                f"contacts URL {source.location}: {exc}", type=CONTACTS_FILE_ERROR
            ) from None
        async with self._lock:  # one download of a URL at a time per worker
            return await self._download(source, target)

    async def _download(self, source: ContactSource, target_address: OutcomeTarget) -> Path:
        url = source.location
        known = self._downloads.get(url)
        headers: dict[str, str] = {}
        if known is not None and known.path.exists():
            if known.etag:
                headers["If-None-Match"] = known.etag
            if known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
        name = hashlib.sha256(url.encode()).hexdigest()[:32]
        target = self._cache_dir / name
        headers["host"] = urlsplit(url).netloc.rpartition("@")[2]
        try:
            async with (
                httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=False) as http,
                http.stream(
                    "GET",
                    target_address.connect_url,
                    headers=headers,
                    extensions={"sni_hostname": target_address.host},
                ) as answer,
            ):
                if answer.status_code == 304 and known is not None:
                    return known.path
                if answer.is_redirect:
                    moved = answer.headers.get("location", "?")
                    reason = (
                        f"HTTP {answer.status_code} redirects to {moved}; redirects are not "
                        "followed: give that URL (rule: no_redirects)"
                    )
                    raise _file_error(source, reason, readable=True)
                if answer.status_code >= 400:
                    error = _file_error(source, f"HTTP {answer.status_code}")
                    if answer.status_code >= 500 or answer.status_code == 429:
                        raise ApplicationError(str(error), type=CONTACTS_FILE_ERROR)
                    raise error
                cap = self._limits.max_bytes
                announced = int(answer.headers.get("content-length") or 0)
                if announced > cap:
                    raise _file_error(
                        source, str(too_large(announced, self._limits)), readable=True
                    )
                partial = target.with_suffix(".part")
                written = 0
                with partial.open("wb") as out:
                    # Counted as they arrive, after decompression: a small compressed answer
                    # that unpacks to gigabytes stops at the cap too.
                    async for chunk in answer.aiter_bytes():
                        written += len(chunk)
                        if written > cap:
                            partial.unlink(missing_ok=True)
                            raise _file_error(
                                source, str(too_large(written, self._limits)), readable=True
                            )
                        out.write(chunk)
                os.replace(partial, target)
                self._downloads[url] = _Download(
                    target, answer.headers.get("etag"), answer.headers.get("last-modified")
                )
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"contacts URL {url}: {type(exc).__name__}", type=CONTACTS_FILE_ERROR
            ) from None
        return target


def _file_error(
    source: ContactSource, reason: str, *, final: bool = True, readable: bool = False
) -> ApplicationError:
    """``readable``: the worker got to the file, so the reason is its content or a rule."""
    hint = "" if readable else " (every worker must be able to read it)"
    return ApplicationError(
        f"contacts file {source.location}: {reason}{hint}",
        type=CONTACTS_FILE_ERROR,
        non_retryable=final,
    )
