"""``POST /v3/list-calls``: Retell's filter criteria and cursor pagination over call objects
(the filter objects and the pages are list-chats' too: simulator/sms.py).

Only the criteria below are understood; any other one answers 400 instead of being ignored,
because a silently unfiltered list would make a caller's lookup find the wrong call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.errors import ApiError

# Criteria on one top-level call field, each a single filter object.
_FIELD_CRITERIA = (
    "call_id",
    "call_status",
    "call_type",
    "direction",
    "disconnection_reason",
    "from_number",
    "to_number",
    "start_timestamp",
    "end_timestamp",
    "duration_ms",
)
# Criteria that hold a list of filters on keys inside a call field.
_KEYED_CRITERIA = {"metadata": "metadata", "dynamic_variables": "retell_llm_dynamic_variables"}

_MISSING = object()


class ListCallsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filter_criteria: dict[str, Any] = Field(default_factory=dict)
    limit: int = Field(default=50, ge=1, le=1000)
    pagination_key: str | None = None
    skip: int = Field(default=0, ge=0)
    sort_order: Literal["ascending", "descending"] = "descending"
    include_total: bool = False


def bad_field(field: str, detail: str) -> ApiError:
    return ApiError(400, f"{field}: {detail}")


def _string_op(op: str) -> Callable[[str, str], bool]:
    ops: dict[str, Callable[[str, str], bool]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "sw": str.startswith,
        "ew": str.endswith,
        "co": lambda a, b: b in a,
    }
    return ops[op]


def _number_op(op: str) -> Callable[[float, float], bool]:
    ops: dict[str, Callable[[float, float], bool]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
    }
    return ops[op]


def matches(actual: Any, flt: Any, field: str) -> bool:
    """Whether one value passes one filter object; malformed filters raise 400."""
    if not isinstance(flt, dict):
        raise bad_field(field, "must be a filter object")
    kind, op, value = flt.get("type"), flt.get("op"), flt.get("value", _MISSING)
    if not isinstance(kind, str) or not isinstance(op, str):
        raise bad_field(field, "needs a string 'type' and 'op'")
    present = actual is not None and actual is not _MISSING
    if kind == "present" and op in ("pr", "np"):
        return present if op == "pr" else not present
    if value is _MISSING:
        raise bad_field(f"{field}.value", "is required")
    if kind == "string" and op in ("eq", "ne", "sw", "ew", "co") and isinstance(value, str):
        if not isinstance(actual, str):
            return op == "ne"
        return bool(_string_op(op)(actual, value))
    if kind == "enum" and op == "in" and isinstance(value, list):
        return present and actual in value
    if kind == "boolean" and op == "eq" and isinstance(value, bool):
        return actual is value
    if kind == "number" and op in ("eq", "ne", "gt", "ge", "lt", "le"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise bad_field(f"{field}.value", "must be a number")
        if not isinstance(actual, int | float) or isinstance(actual, bool):
            return op == "ne"
        return bool(_number_op(op)(actual, value))
    if kind == "range" and op == "bt" and isinstance(value, list) and len(value) == 2:
        if not isinstance(actual, int | float) or isinstance(actual, bool):
            return False
        return bool(value[0] <= actual <= value[1])
    raise bad_field(field, f"unsupported filter (type={kind!r}, op={op!r}) or bad value")


def _call_matches(call: dict[str, Any], criteria: dict[str, Any]) -> bool:
    for name, spec in criteria.items():
        field = f"filter_criteria.{name}"
        if name in _FIELD_CRITERIA:
            if not matches(call.get(name, _MISSING), spec, field):
                return False
        elif name in _KEYED_CRITERIA:
            if not isinstance(spec, list):
                raise bad_field(field, "must be a list of filters")
            container = call.get(_KEYED_CRITERIA[name]) or {}
            for i, flt in enumerate(spec):
                key = flt.get("key") if isinstance(flt, dict) else None
                if not isinstance(key, str):
                    raise bad_field(f"{field}[{i}].key", "must be a string")
                if not matches(container.get(key, _MISSING), flt, f"{field}[{i}]"):
                    return False
        else:
            raise bad_field(field, "is not supported by the simulator")
    return True


def list_calls(calls: Sequence[dict[str, Any]], request: ListCallsRequest) -> dict[str, Any]:
    """Answer a list-calls request over ``calls`` given oldest first.

    Calls are ordered by creation (a call that never connected has no start_timestamp to
    sort by); the pagination key is the call_id of the last item of the previous page.
    """
    # Validate every filter even when there is no call to test it on.
    if not calls:
        _call_matches({}, request.filter_criteria)
    matched = [c for c in calls if _call_matches(c, request.filter_criteria)]
    return page_of(
        matched,
        "call_id",
        limit=request.limit,
        pagination_key=request.pagination_key,
        skip=request.skip,
        sort_order=request.sort_order,
        include_total=request.include_total,
    )


def page_of(
    matched: Sequence[dict[str, Any]],
    id_field: str,
    *,
    limit: int,
    pagination_key: str | None,
    skip: int,
    sort_order: Literal["ascending", "descending"],
    include_total: bool,
) -> dict[str, Any]:
    """One page of ``matched`` (oldest first) as Retell's v3 lists answer it: the pagination
    key is the ``id_field`` of the last item of the previous page."""
    ordered = list(reversed(matched)) if sort_order == "descending" else list(matched)
    start = 0
    if pagination_key is not None:
        ids = [item[id_field] for item in ordered]
        if pagination_key not in ids:
            raise bad_field("pagination_key", "is not a key this simulator gave out")
        start = ids.index(pagination_key) + 1
    start += skip
    page = ordered[start : start + limit]
    has_more = start + limit < len(ordered)
    answer: dict[str, Any] = {
        "items": page,
        "has_more": has_more,
        "pagination_key": page[-1][id_field] if has_more and page else None,
    }
    if include_total:
        answer["total"] = len(ordered)
    return answer
