"""Coercion of untrusted Jira JSON values into column values.

Any field may be null, missing or of an unexpected type (old API versions, plugins,
hostile data). Each helper returns a value of its column's type or ``None``; none raises."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import orjson
import pyarrow as pa

from jira_pipeline.core.dates import parse_jira_datetime

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TIMESTAMP = pa.timestamp("us", tz="UTC")
_LABEL_KEYS = ("value", "name", "displayName", "key", "id")


def as_dict(value: Any) -> dict:
    """``value`` if it is a JSON object, else an empty dict (so chained lookups never fail)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A scalar as text: strings as they are, numbers printed, anything else ``None``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def identifier(value: Any) -> str | None:
    """Ids arrive as strings or ints (the OpenAPI examples use ints); stored as strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def label(value: Any) -> str | None:
    """The human label of an option-like object (``value``/``name``/``displayName``…);
    a cascading select becomes ``"Parent / Child"``."""
    if not isinstance(value, dict):
        return text(value)
    for key in _LABEL_KEYS:
        found = value.get(key)
        if isinstance(found, str):
            child = label(value.get("child")) if isinstance(value.get("child"), dict) else None
            return f"{found} / {child}" if child else found
    return None


def labels(value: Any) -> list[str]:
    """Labels of every element of a list (a single object counts as a list of one)."""
    items = value if isinstance(value, list) else [value] if value is not None else []
    return [found for found in map(label, items) if found is not None]


def name_of(value: Any, key: str = "name") -> str | None:
    return text(as_dict(value).get(key))


def int64(value: Any) -> int | None:
    """An integer that fits int64 (integral floats accepted), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            return None
        value = int(value)
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return value
    return None


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def timestamp_text(value: Any) -> str | None:
    """A timestamp column's value while rows are built: the Jira string itself, parsed
    a column at a time by :func:`timestamp_array`."""
    return value if isinstance(value, str) else None


def timestamp_array(values: pa.StringArray) -> pa.Array:
    """Jira timestamps (any offset) → ``timestamp[us, UTC]``: Arrow's ISO-8601 cast for
    the whole column; if any value is not one it accepts, each value on its own (Arrow,
    else :func:`parse_jira_datetime`, else null), so a value's result never depends on
    its neighbours."""
    try:
        return values.cast(TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([_one_timestamp(value) for value in values.to_pylist()], TIMESTAMP)


def _one_timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return pa.scalar(value, pa.string()).cast(TIMESTAMP).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return parse_jira_datetime(value)
    except (ValueError, TypeError, OverflowError):
        return None


def calendar_date(value: Any) -> date | None:
    """``duedate``-style ``YYYY-MM-DD`` (a full timestamp keeps its written date)."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def to_json_text(value: Any) -> str:
    """Compact, key-sorted JSON. orjson refuses nesting deeper than 255 and ints beyond
    64 bits; the stdlib then takes over (ASCII-escaped, so lone surrogates survive too)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (RecursionError, ValueError, TypeError):
        return '{"_error":"value could not be serialised"}'
