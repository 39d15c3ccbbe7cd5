"""The contacts file's parser: pure rules over a binary stream, read in one pass or one page at
a time (no Temporal, no file opening: adapters/contacts_file.py opens the file).

The format and the models are the callers' (outbound_calls_client.contacts); this is the
service's reading of them. Each contact is known by its ``position`` (0-based among the
file's records) and its ``row``, the line it starts on. A bad record is reported by its row,
the field and the rule, and does not stop the others; a file beyond a :class:`ReadLimits`
is refused as a whole, as soon as the read gets there (never read further into memory).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import ValidationError

from outbound_calls_client.bounds import check_bounds
from outbound_calls_client.contacts import (
    CALLER_ID_FIELDS,
    MAX_BAD_ROWS_LISTED,
    METADATA_PREFIX,
    BadRow,
    CallTemplate,
    Contact,
    ContactFormat,
    ContactsOpened,
    ContactSource,
    ContactsPage,
)
from outbound_calls_client.errors import InvalidCallRequest
from outbound_calls_client.models import CallRequest
from outbound_calls_client.phone import normalize_e164

# A position index entry every this many records: a page seeks, then parses at most this many
# records it does not return, instead of the whole file before it.
INDEX_EVERY = 256
MAX_BYTES_SETTING = "CONTACTS_MAX_BYTES"
# A page is an activity's result, in the campaign's history: Temporal refuses a payload over
# 2 MB, and a page of 1,000 rows each near the request bounds (~41 kB) would be 40 MB. A page
# stops before the contact that would take it over this, and its next_position names that
# contact, so the campaign reads on from there (a page's length was never promised).
PAGE_BUDGET_BYTES = 1024 * 1024
# {"contacts":[],"next_position":<up to 20 digits>}, counted with the contacts.
_PAGE_ENVELOPE_BYTES = 64
MAX_LINE_BYTES_SETTING = "CONTACTS_MAX_LINE_BYTES"


@dataclass(frozen=True)
class ReadLimits:
    """How much of a file a worker reads (the worker's CONTACTS_MAX_* settings). The defaults
    pass 100,000 rows of JSON Lines with a page of metadata each (about 200 MiB) easily."""

    max_bytes: int = 256 * 1024 * 1024
    max_line_bytes: int = 64 * 1024


DEFAULT_LIMITS = ReadLimits()

# A bad row's field and message quote the file (a metadata key, a value): cut, so that the
# bad rows a campaign lists stay a few kB whatever the file holds (MAX_BAD_ROWS_LISTED each).
MAX_BAD_FIELD_CHARS = 200
MAX_BAD_MESSAGE_CHARS = 500


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _bad_row(*, row: int, field: str, rule: str, message: str) -> BadRow:
    return BadRow(
        row=row,
        field=_cut(field, MAX_BAD_FIELD_CHARS),
        rule=rule,
        message=_cut(message, MAX_BAD_MESSAGE_CHARS),
    )


class ContactsFileError(ValueError):
    """The file as a whole cannot be used (no to_number column, not UTF-8, ...)."""


class ContactsTooLarge(ContactsFileError):
    """The file or one of its lines is over a limit; the message names the setting."""


def too_large(size: int, limits: ReadLimits) -> ContactsTooLarge:
    return ContactsTooLarge(
        f"the file is over {limits.max_bytes} bytes ({size} or more; "
        f"{MAX_BYTES_SETTING} is the limit)"
    )


# ----- records ---------------------------------------------------------------------------------


@dataclass
class _Lines:
    """Decoded lines of a binary file, counting bytes and lines as they go by."""

    stream: IO[bytes]
    limits: ReadLimits
    offset: int = 0
    line: int = 0
    digest: Any = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        # One byte over the cap is enough to know: a 2 GB line is never held in memory.
        raw = self.stream.readline(self.limits.max_line_bytes + 1)
        if not raw:
            raise StopIteration
        if len(raw) > self.limits.max_line_bytes:
            raise ContactsTooLarge(
                f"line {self.line + 1} is over {self.limits.max_line_bytes} bytes "
                f"({MAX_LINE_BYTES_SETTING} is the limit)"
            )
        if self.offset + len(raw) > self.limits.max_bytes:
            raise too_large(self.offset + len(raw), self.limits)
        if self.digest is not None:
            self.digest.update(raw)
        self.offset += len(raw)
        self.line += 1
        try:
            return raw.decode("utf-8-sig" if self.line == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ContactsFileError(f"line {self.line} is not UTF-8 text") from None


@dataclass(frozen=True)
class _Record:
    position: int
    row: int
    offset: int
    value: dict[str, Any] | str  # a CSV record's columns, or a JSON line's text


@dataclass
class _Reader:
    """Yields records from ``offset``; a CSV's header is read first (or given)."""

    lines: _Lines
    fmt: ContactFormat
    header: list[str] | None = None
    position: int = 0
    _csv: Any = field(default=None, init=False)

    def read_header(self) -> list[str]:
        self._csv = csv.reader(self.lines)
        try:
            header = [name.strip() for name in next(self._csv)]
        except StopIteration:
            raise ContactsFileError("the file is empty: a CSV needs a header row") from None
        if "to_number" not in header:
            raise ContactsFileError("the header has no to_number column (it is required)")
        self.header = header
        return header

    def __iter__(self) -> Iterator[_Record]:
        if self.fmt == "jsonl":
            while True:
                offset, row = self.lines.offset, self.lines.line + 1
                try:
                    text = next(self.lines)
                except StopIteration:
                    return
                if not text.strip():
                    continue  # blank lines (a trailing newline) are not records
                yield _Record(self.position, row, offset, text)
                self.position += 1
        if self._csv is None:
            self._csv = csv.reader(self.lines)
        assert self.header is not None
        while True:
            offset, row = self.lines.offset, self.lines.line + 1
            try:
                values = next(self._csv)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ContactsFileError(f"row {row}: {exc}") from None
            if not values:
                continue
            columns: dict[str, Any] = dict.fromkeys(self.header)  # None: no value given
            columns.update(zip(self.header, values, strict=False))
            if len(values) > len(self.header):
                columns[""] = values[len(self.header) :]
            yield _Record(self.position, row, offset, columns)
            self.position += 1


def _contact(record: _Record, template: CallTemplate) -> Contact | BadRow:
    """One record as a call request, or why it cannot be one."""
    row = record.row
    try:
        if isinstance(record.value, str):
            try:
                data = json.loads(record.value)
            except json.JSONDecodeError as exc:
                return _bad_row(row=row, field="line", rule="json", message=exc.msg)
            if not isinstance(data, dict):
                return _bad_row(row=row, field="line", rule="json_object", message="not an object")
            shared = template.model_dump(exclude_none=True)
            if any(data.get(name) is not None for name in CALLER_ID_FIELDS):
                # The line's caller ID replaces the template's: a number in place of its
                # pool is a choice, not a request naming both.
                for name in CALLER_ID_FIELDS:
                    shared.pop(name, None)
            request = CallRequest.model_validate({**shared, **data})
        else:
            request = _csv_request(record.value, template, row)
        normalize_e164("to_number", request.to_number)
        if request.from_number is not None and request.from_number != template.from_number:
            # A row's own number: a bad one is the row's fault (the template's is the
            # starter's, checked before the campaign starts).
            normalize_e164("from_number", request.from_number)
        check_bounds(request)
    except _RowError as exc:
        return exc.bad
    except InvalidCallRequest as exc:
        return _bad_row(row=row, field=exc.field, rule=exc.rule, message=str(exc))
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or "line"
        return _bad_row(row=row, field=name, rule=err["type"], message=err["msg"])
    return Contact(position=record.position, row=row, request=request)


class _RowError(Exception):
    def __init__(self, bad: BadRow) -> None:
        self.bad = bad


def _csv_request(columns: dict[str, Any], template: CallTemplate, row: int) -> CallRequest:
    if "" in columns:
        raise _RowError(
            _bad_row(
                row=row, field="row", rule="columns", message="more values than header columns"
            )
        )
    missing = [name for name, value in columns.items() if value is None]
    if missing:
        raise _RowError(
            _bad_row(row=row, field=missing[0], rule="missing", message="the column has no value")
        )
    metadata = dict(template.metadata)
    variables = dict(template.dynamic_variables)
    to_number = ""
    dedupe_key: str | None = None
    caller_id: dict[str, str] = {}
    for name, value in columns.items():
        if name == "to_number":
            to_number = value.strip()
        elif name == "dedupe_key":
            dedupe_key = value.strip() or None
        elif name in CALLER_ID_FIELDS:
            if value.strip():  # an empty cell: the template's caller ID
                caller_id[name] = value.strip()
        elif name.startswith(METADATA_PREFIX):
            metadata[name[len(METADATA_PREFIX) :]] = value
        else:
            variables[name] = value
    if not to_number:
        raise _RowError(
            _bad_row(row=row, field="to_number", rule="required", message="to_number is empty")
        )
    # A row's caller ID replaces the template's, whichever of the two each names.
    shared = {"metadata", "dynamic_variables", *(CALLER_ID_FIELDS if caller_id else ())}
    return CallRequest(
        **template.model_dump(exclude=shared),
        **caller_id,
        to_number=to_number,
        dedupe_key=dedupe_key,
        metadata=metadata,
        dynamic_variables=variables,
    )


# ----- whole file and pages ------------------------------------------------------------------


@dataclass(frozen=True)
class FileIndex:
    """One pass over a file: its checksum, its records and where every INDEX_EVERY-th starts."""

    checksum: str
    records: int
    header: list[str] | None
    # (position, byte offset, line) of records 0, INDEX_EVERY, 2*INDEX_EVERY, ...
    marks: tuple[tuple[int, int, int], ...]
    opened: ContactsOpened
    bad_positions: frozenset[int]


def _judged(reader: _Reader, template: CallTemplate) -> Iterator[tuple[_Record, Contact | BadRow]]:
    """Every record with what it becomes, in file order: a contact, or a bad row (a dedupe
    key already on an earlier row is one: it needs the records before it)."""
    keys: set[str] = set()
    for record in reader:
        found = _contact(record, template)
        if isinstance(found, Contact) and found.request.dedupe_key is not None:
            key = found.request.dedupe_key
            if key in keys:
                found = _bad_row(
                    row=record.row,
                    field="dedupe_key",
                    rule="unique",
                    message="the same dedupe_key is on an earlier row",
                )
            keys.add(key)
        yield record, found


def each_contact(
    stream: IO[bytes], source: ContactSource, limits: ReadLimits = DEFAULT_LIMITS
) -> Iterator[Contact | BadRow]:
    """Every record as the campaign sees it, in file order, one at a time (the whole file is
    never held): the contacts it would call and the bad rows it would skip, exactly as
    :func:`scan_contacts` judges them (``campaign check`` reads a file so)."""
    reader = _Reader(_Lines(stream, limits), source.format)
    if source.format == "csv":
        reader.read_header()
    for _, found in _judged(reader, source.template):
        yield found


def scan_contacts(
    stream: IO[bytes], source: ContactSource, limits: ReadLimits = DEFAULT_LIMITS
) -> FileIndex:
    """Read the whole file once: checksum, record count, bad rows, the position index."""
    digest = hashlib.sha256()
    marks: list[tuple[int, int, int]] = []
    bad: list[BadRow] = []
    bad_positions: set[int] = set()
    lines = _Lines(stream, limits, digest=digest)
    reader = _Reader(lines, source.format)
    header = reader.read_header() if source.format == "csv" else None
    for record, found in _judged(reader, source.template):
        if record.position % INDEX_EVERY == 0:
            marks.append((record.position, record.offset, record.row - 1))
        if isinstance(found, BadRow):
            bad_positions.add(record.position)
            if len(bad) < MAX_BAD_ROWS_LISTED:
                bad.append(found)
    # Drain what the reader left (blank trailing lines) into the checksum.
    for _ in lines:
        pass
    records = reader.position
    checksum = digest.hexdigest()
    opened = ContactsOpened(
        checksum=checksum, records=records, bad_rows=len(bad_positions), bad_row_list=tuple(bad)
    )
    return FileIndex(checksum, records, header, tuple(marks), opened, frozenset(bad_positions))


def read_page(
    stream: IO[bytes],
    source: ContactSource,
    index: FileIndex,
    first: int,
    count: int,
    limits: ReadLimits = DEFAULT_LIMITS,
    page_budget: int = PAGE_BUDGET_BYTES,
) -> ContactsPage:
    """The good contacts among records ``first`` .. ``first + count - 1``: the records the
    whole-file scan found bad (a repeated dedupe key needs the whole file) are left out.

    The page ends sooner when its JSON would pass ``page_budget`` bytes (it always holds one
    contact, which the request bounds keep far below the budget): ``next_position`` is then
    the first record it leaves out."""
    start = max((m for m in index.marks if m[0] <= first), default=(0, 0, 0))
    end = min(first + count, index.records)
    contacts: list[Contact] = []
    if source.format == "csv" and start[0] == 0 and start[1] == 0:
        lines = _Lines(stream, limits)
        reader = _Reader(lines, source.format)
        reader.read_header()
    else:
        stream.seek(start[1])
        lines = _Lines(stream, limits, offset=start[1], line=start[2])
        reader = _Reader(lines, source.format, header=index.header, position=start[0])
    size = _PAGE_ENVELOPE_BYTES
    for record in reader:
        if record.position >= end:
            break
        if record.position < first or record.position in index.bad_positions:
            continue
        found = _contact(record, source.template)
        if isinstance(found, Contact):
            # The form the payload converter writes (pydantic's JSON), and a comma.
            grown = size + len(found.model_dump_json().encode()) + 1
            if contacts and grown > page_budget:
                return ContactsPage(contacts=tuple(contacts), next_position=record.position)
            contacts.append(found)
            size = grown
    return ContactsPage(contacts=tuple(contacts), next_position=end)
