"""A campaign's contacts file on disk: opened here, read by the pure rules of
outbound_calls_client.contacts."""

from __future__ import annotations

from pathlib import Path

from outbound_calls_client.contacts import (
    ContactSource,
    ContactsPage,
    FileIndex,
    read_page,
    scan_contacts,
)


def scan_path(path: Path, source: ContactSource) -> FileIndex:
    """Checksum, record count, bad rows and position index of the file at ``path``."""
    with path.open("rb") as stream:
        return scan_contacts(stream, source)


def read_page_at(
    path: Path, source: ContactSource, index: FileIndex, first: int, count: int
) -> ContactsPage:
    """One page of good contacts from the file at ``path`` (outbound_calls_client.contacts'
    read_page)."""
    with path.open("rb") as stream:
        return read_page(stream, source, index, first, count)
