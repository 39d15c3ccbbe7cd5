"""The contacts file's pure rules over bytes: columns, bad rows by line, checksum, pages."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calls import contacts_file as contacts_module
from calls.contacts_file import (
    PAGE_BUDGET_BYTES,
    ContactsFileError,
    ContactsTooLarge,
    ReadLimits,
    read_page,
    scan_contacts,
)
from outbound_calls_client import bounds
from outbound_calls_client.contacts import CallTemplate, Contact, ContactSource
from outbound_calls_client.models import CallingWindow

TEMPLATE = CallTemplate(
    from_number="+12125550199",
    agent_id="agent_test",
    metadata={"team": "reminders"},
    calling_window=CallingWindow(enabled=False),
)


def _source(fmt: str = "csv") -> ContactSource:
    return ContactSource(location=f"contacts.{fmt}", format=fmt, template=TEMPLATE)


def _number(i: int) -> str:
    return f"+1415555{i % 10000:04d}"


def _all_contacts(data: bytes, source: ContactSource) -> list[Contact]:
    index = scan_contacts(io.BytesIO(data), source)
    return list(read_page(io.BytesIO(data), source, index, 0, max(index.records, 1)).contacts)


def test_csv_columns_become_number_key_metadata_and_variables() -> None:
    data = (
        f"\ufeffto_number,dedupe_key,metadata.region,customer_name\n{_number(1)},k-1,west,Ada\n"
    ).encode()
    [contact] = _all_contacts(data, _source())
    request = contact.request
    assert (contact.position, contact.row) == (0, 2)
    assert request.to_number == _number(1)
    assert request.dedupe_key == "k-1"
    assert request.metadata == {"team": "reminders", "region": "west"}
    assert request.dynamic_variables == {"customer_name": "Ada"}
    assert request.from_number == TEMPLATE.from_number


def test_bad_rows_are_reported_by_line_field_and_rule_and_skipped() -> None:
    data = (
        "to_number,dedupe_key,name\n"
        f"{_number(1)},a,Ada\n"  # 2: good
        "+99912,,Bob\n"  # 3: not a number
        f"{_number(2)},a,Cy\n"  # 4: repeats line 2's key
        f"{_number(3)}\n"  # 5: missing columns
        ",,Ed\n"  # 6: no number
        f"{_number(4)},b,Fa,extra\n"  # 7: too many values
        "\n"
        f"{_number(5)},c,Gus\n"  # 9: good, after a blank line
    ).encode()
    index = scan_contacts(io.BytesIO(data), _source())
    found = [(b.row, b.field, b.rule) for b in index.opened.bad_row_list]
    assert found == [
        (3, "to_number", "e164"),
        (4, "dedupe_key", "unique"),
        (5, "dedupe_key", "missing"),
        (6, "to_number", "required"),
        (7, "row", "columns"),
    ]
    assert (index.opened.records, index.opened.bad_rows) == (7, 5)
    page = read_page(io.BytesIO(data), _source(), index, 0, 10)
    assert [c.row for c in page.contacts] == [2, 9]
    assert page.next_position == 7


def test_json_lines_take_the_template_for_what_a_line_leaves_out() -> None:
    lines = [
        json.dumps({"to_number": _number(1), "dynamic_variables": {"name": "Ada"}}),
        "not json",
        json.dumps([1, 2]),
        json.dumps({"to_number": _number(2), "agent_id": "agent_other"}),
    ]
    data = ("\n".join(lines) + "\n").encode()
    index = scan_contacts(io.BytesIO(data), _source("jsonl"))
    assert [(b.row, b.rule) for b in index.opened.bad_row_list] == [(2, "json"), (3, "json_object")]
    good = read_page(io.BytesIO(data), _source("jsonl"), index, 0, 10).contacts
    assert [c.request.agent_id for c in good] == ["agent_test", "agent_other"]
    assert good[0].request.dynamic_variables == {"name": "Ada"}
    assert good[1].request.from_number == TEMPLATE.from_number


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"name,region\nAda,west\n", "no to_number column"),
        (b"to_number,name\n+14155550001,\xff\xfe\n", "line 2 is not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_a_list_is_refused_as_a_whole(data: bytes, message: str) -> None:
    with pytest.raises(ContactsFileError, match=message):
        scan_contacts(io.BytesIO(data), _source())


class _CountingStream(io.BytesIO):
    """Records the longest read asked of it: a long line must never be read whole."""

    longest = 0

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.longest = max(self.longest, len(line))
        return line


def test_a_line_over_the_line_cap_is_refused_without_reading_it_whole() -> None:
    long_line = f"{_number(2)},{'x' * 100_000}\n".encode()
    data = f"to_number,n\n{_number(1)},a\n".encode() + long_line
    limits = ReadLimits(max_line_bytes=1024)
    stream = _CountingStream(data)
    with pytest.raises(
        ContactsTooLarge, match=r"line 3 is over 1024 bytes.*CONTACTS_MAX_LINE_BYTES"
    ):
        scan_contacts(stream, _source(), limits)
    assert stream.longest <= 1025
    assert scan_contacts(io.BytesIO(data), _source(), ReadLimits(max_line_bytes=2**17)).records == 2


def test_a_file_over_the_byte_cap_is_refused_as_the_read_gets_there() -> None:
    data = ("to_number\n" + "".join(f"{_number(i)}\n" for i in range(100))).encode()
    assert scan_contacts(io.BytesIO(data), _source(), ReadLimits(max_bytes=len(data))).records
    with pytest.raises(ContactsTooLarge, match="CONTACTS_MAX_BYTES"):
        scan_contacts(io.BytesIO(data), _source(), ReadLimits(max_bytes=len(data) - 1))


def test_the_default_caps_pass_100000_rows_easily() -> None:
    row = f"{_number(1)},k-000000000,Ada Lovelace,{'a' * 60}\n".encode()
    limits = ReadLimits()
    assert len(row) * 100_000 * 10 < limits.max_bytes
    jsonl = json.dumps(
        {"to_number": _number(1), "metadata": {f"k{i}": "v" * 40 for i in range(50)}}
    )
    assert len(jsonl) * 10 < limits.max_line_bytes


def test_the_checksum_is_the_files_bytes() -> None:
    data = f"to_number\n{_number(1)}\n".encode()
    first = scan_contacts(io.BytesIO(data), _source())
    again = scan_contacts(io.BytesIO(data), _source())
    changed = scan_contacts(io.BytesIO(data + f"{_number(2)}\n".encode()), _source())
    assert first.checksum == again.checksum
    assert first.checksum != changed.checksum
    assert len(first.checksum) == 64


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(min_value=0, max_value=60),
    page=st.integers(min_value=1, max_value=25),
    bad_every=st.integers(min_value=2, max_value=9),
    # Down to less than one contact (~0.8 kB): a page always holds one, so the read goes on.
    budget=st.one_of(st.just(PAGE_BUDGET_BYTES), st.integers(min_value=0, max_value=6000)),
)
def test_pages_of_any_size_read_every_good_contact_once_in_order(
    rows: int, page: int, bad_every: int, budget: int
) -> None:
    # A small index step makes pages seek to a mark in the middle of the file.
    original = contacts_module.INDEX_EVERY
    contacts_module.INDEX_EVERY = 4
    try:
        lines = ["to_number,n"]
        lines += [
            f"{'+1415' if i % bad_every == 0 else _number(i)},{i}" for i in range(1, rows + 1)
        ]
        data = ("\n".join(lines) + "\n").encode()
        source = _source()
        index = scan_contacts(io.BytesIO(data), source)
        paged: list[int] = []
        position = 0
        while position < index.records:
            found = read_page(io.BytesIO(data), source, index, position, page, page_budget=budget)
            if len(found.contacts) > 1:
                assert len(found.model_dump_json().encode()) <= budget
            paged += [c.row for c in found.contacts]
            assert found.next_position > position
            position = found.next_position
        expected = [i + 1 for i in range(1, rows + 1) if i % bad_every != 0]
        assert paged == expected
    finally:
        contacts_module.INDEX_EVERY = original


def near_max_rows(rows: int, first_number: int = 0) -> bytes:
    """A CSV whose every row carries metadata and dynamic variables within a few bytes of
    their caps (bounds.MAX_METADATA_BYTES, MAX_DYNAMIC_VARIABLES_BYTES) with the template's:
    the largest contacts a CSV row can make."""
    metadata = {**TEMPLATE.metadata, "pad": ""}
    meta_pad = bounds.MAX_METADATA_BYTES - bounds.json_bytes(metadata)
    variables = {"note": ""}
    note_pad = bounds.MAX_DYNAMIC_VARIABLES_BYTES - bounds.json_bytes(variables)
    lines = ["to_number,metadata.pad,note"]
    lines += [f"{_number(first_number + i)},{'m' * meta_pad},{'v' * note_pad}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_page_of_the_largest_rows_stops_at_the_byte_budget_and_the_next_reads_on() -> None:
    rows = 120
    data = near_max_rows(rows)
    source = _source()
    index = scan_contacts(io.BytesIO(data), source)
    assert (index.records, index.opened.bad_rows) == (rows, 0)  # each row within the bounds
    sizes: list[int] = []
    paged: list[int] = []
    position = 0
    while position < index.records:
        # The campaign's largest page_size, read on from next_position as the workflow does.
        page = read_page(io.BytesIO(data), source, index, position, 1000)
        sizes.append(len(page.model_dump_json().encode()))
        paged += [c.row for c in page.contacts]
        position = page.next_position
    assert paged == list(range(2, rows + 2))  # every row once, in order
    assert len(sizes) >= 4
    assert max(sizes) <= PAGE_BUDGET_BYTES
    # Full pages: within one contact of the budget.
    assert min(sizes[:-1]) > PAGE_BUDGET_BYTES - 50_000


def test_bad_rows_quoting_a_huge_key_stay_small() -> None:
    """A bad row names the field it broke, which may be a key of the file's own (up to the
    line cap): cut, so that the listed bad rows fit a payload whatever the file holds."""
    key = "k" * 60_000
    line = json.dumps({"to_number": _number(1), "metadata": {key: {"not": "a string"}}})
    data = ("\n".join([line] * 200) + "\n").encode()
    opened = scan_contacts(io.BytesIO(data), _source("jsonl")).opened
    assert opened.bad_rows == 200
    assert opened.bad_row_list
    assert all(key[:100] in b.field for b in opened.bad_row_list)
    assert len(opened.model_dump_json()) < 200_000


POOL_TEMPLATE = TEMPLATE.model_copy(update={"from_number": None, "caller_id_pool": "sales"})
OWN = "+13125550100"


def test_a_rows_caller_id_replaces_the_templates() -> None:
    data = (
        "to_number,from_number,caller_id_pool,name\n"
        f"{_number(1)},,,Ada\n"  # 2: the template's pool
        f"{_number(2)},+13125550100,,Bob\n"  # 3: its own number instead
        f"{_number(3)},, vip ,Cy\n"  # 4: another pool
        f"{_number(4)},+13125550100,vip,Di\n"  # 5: both: refused
        f"{_number(5)},+1312,,Ed\n"  # 6: not a number
        f"{_number(6)},,bad name,Fa\n"  # 7: not a pool's name
    ).encode()
    source = ContactSource(location="contacts.csv", template=POOL_TEMPLATE)
    index = scan_contacts(io.BytesIO(data), source)
    assert [(b.row, b.field, b.rule) for b in index.opened.bad_row_list] == [
        (5, "from_number", "one_caller_id"),
        (6, "from_number", "e164"),
        (7, "caller_id_pool", "pool_name"),
    ]
    good = read_page(io.BytesIO(data), source, index, 0, 10).contacts
    assert [(c.row, c.request.from_number, c.request.caller_id_pool) for c in good] == [
        (2, None, "sales"),
        (3, "+13125550100", None),
        (4, None, "vip"),
    ]
    # The two columns are the caller ID, never dynamic variables.
    assert [c.request.dynamic_variables for c in good] == [
        {"name": "Ada"},
        {"name": "Bob"},
        {"name": "Cy"},
    ]
    # A number template, a pool row: the pool.
    numbered = _all_contacts(f"to_number,caller_id_pool\n{_number(1)},vip\n".encode(), _source())
    assert [(c.request.from_number, c.request.caller_id_pool) for c in numbered] == [(None, "vip")]


def test_a_json_line_naming_a_caller_id_takes_neither_of_the_templates() -> None:
    lines = [
        json.dumps({"to_number": _number(1)}),
        json.dumps({"to_number": _number(2), "from_number": OWN}),
        json.dumps({"to_number": _number(3), "caller_id_pool": "vip", "from_number": None}),
        json.dumps({"to_number": _number(4), "caller_id_pool": "vip", "from_number": OWN}),
    ]
    data = ("\n".join(lines) + "\n").encode()
    source = ContactSource(location="c.jsonl", format="jsonl", template=POOL_TEMPLATE)
    index = scan_contacts(io.BytesIO(data), source)
    assert [(b.row, b.rule) for b in index.opened.bad_row_list] == [(4, "one_caller_id")]
    good = read_page(io.BytesIO(data), source, index, 0, 10).contacts
    assert [(c.request.from_number, c.request.caller_id_pool) for c in good] == [
        (None, "sales"),
        (OWN, None),
        (None, "vip"),
    ]
