"""A campaign's contacts file on disk: opened here, read by the parser in
calls/contacts_file.py within the worker's limits."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from calls.contacts_file import (
    DEFAULT_LIMITS,
    FileIndex,
    ReadLimits,
    each_contact,
    read_page,
    scan_contacts,
    too_large,
)
from outbound_calls_client.contacts import BadRow, Contact, ContactSource, ContactsPage


def scan_path(path: Path, source: ContactSource, limits: ReadLimits = DEFAULT_LIMITS) -> FileIndex:
    """Checksum, record count, bad rows and position index of the file at ``path``."""
    with path.open("rb") as stream:
        # Refused by its size before a byte is read; the scan still counts (the file may grow).
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise too_large(size, limits)
        return scan_contacts(stream, source, limits)


def contacts_at(
    path: Path, source: ContactSource, limits: ReadLimits = DEFAULT_LIMITS
) -> Generator[Contact | BadRow, None, None]:
    """Every record of the file at ``path`` as a contact or a bad row, in file order
    (calls.contacts_file.each_contact); the file stays open until the iterator ends."""
    with path.open("rb") as stream:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise too_large(size, limits)
        yield from each_contact(stream, source, limits)


def read_page_at(
    path: Path,
    source: ContactSource,
    index: FileIndex,
    first: int,
    count: int,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> ContactsPage:
    """One page of good contacts from the file at ``path`` (calls.contacts_file.read_page)."""
    with path.open("rb") as stream:
        return read_page(stream, source, index, first, count, limits)
