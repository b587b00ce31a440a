"""Which Jira custom field feeds which issues-table column, and how its value is read.

The mapping lives in ``field_mapping.toml`` (column → field name and/or schema type, and a
reader kind); field ids are resolved per site through the cached ``/rest/api/3/field``
list, never hard-coded. Without a cached list, the issue's own ``names`` (``expand=names``)
resolve by name; failing both, mapped columns are null and every custom field is kept in
``custom_fields``."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from jira_pipeline.jira.adf import adf_to_text
from jira_pipeline.transform import values as v
from jira_pipeline.transform.values import TIMESTAMP

MAPPING_FILE = Path(__file__).with_name("field_mapping.toml")
SLA_PARTS = ("breached", "goal_millis", "elapsed_millis", "remaining_millis")
SLA_TYPES = (pa.bool_(), pa.int64(), pa.int64(), pa.int64())
STRINGS = pa.list_(pa.string())

# kind -> column type
KIND_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "url": pa.string(), "adf": pa.string(), "option": pa.string(),
    "request_type": pa.string(), "request_status": pa.string(), "user": pa.string(),
    "options": STRINGS, "users": STRINGS,
    "number": pa.float64(), "rating": pa.int64(), "flag": pa.bool_(),
    "date": pa.date32(), "datetime": TIMESTAMP,
}
USER_ATTRS = ("displayName", "emailAddress", "accountId")


@dataclass(frozen=True)
class ColumnSpec:
    column: str
    field: str | None
    custom_type: str | None
    kind: str
    user_attr: str = "displayName"


@dataclass(frozen=True)
class SlaSpec:
    prefix: str
    field: str | None
    custom_type: str | None

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.prefix}_{part}" for part in SLA_PARTS)


@dataclass(frozen=True)
class FieldMapping:
    columns: tuple[ColumnSpec, ...]
    slas: tuple[SlaSpec, ...]

    def schema_fields(self) -> list[pa.Field]:
        """The mapped columns of the issues table: mapped columns, then SLA columns."""
        found = [pa.field(c.column, KIND_TYPES[c.kind]) for c in self.columns]
        for sla in self.slas:
            found += [pa.field(n, t) for n, t in zip(sla.columns, SLA_TYPES, strict=True)]
        return found


def load_mapping(path: Path = MAPPING_FILE) -> FieldMapping:
    """Parse and check the mapping file (unknown kinds fail loudly, at import time)."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    columns = []
    for column, spec in (data.get("columns") or {}).items():
        kind = spec.get("kind")
        if kind not in KIND_TYPES:
            raise ValueError(f"{path}: column {column!r} has unknown kind {kind!r}")
        user_attr = spec.get("user_attr", "displayName")
        if user_attr not in USER_ATTRS:
            raise ValueError(f"{path}: column {column!r}: user_attr must be one of {USER_ATTRS}")
        columns.append(ColumnSpec(column, spec.get("field"), spec.get("custom_type"), kind,
                                  user_attr))
    slas = [SlaSpec(prefix, spec.get("field"), spec.get("custom_type"))
            for prefix, spec in (data.get("sla") or {}).items()]
    for spec in [*columns, *slas]:
        if not (spec.field or spec.custom_type):
            raise ValueError(f"{path}: {spec} names neither a field nor a custom_type")
    return FieldMapping(tuple(columns), tuple(slas))


MAPPING = load_mapping()


@dataclass(frozen=True)
class ResolvedFields:
    """Field ids of one site: column → id (``None`` when the site has no such field)."""

    column_ids: dict[str, str | None]
    sla_ids: dict[str, str | None]

    @functools.cached_property
    def mapped_ids(self) -> frozenset[str]:
        return frozenset(i for i in [*self.column_ids.values(), *self.sla_ids.values()] if i)


def _norm(name: Any) -> str:
    return name.strip().casefold() if isinstance(name, str) else ""


def _pick(spec: ColumnSpec | SlaSpec, by_name: dict[str, list[str]],
          by_type: dict[str, list[str]]) -> str | None:
    named = by_name.get(_norm(spec.field), []) if spec.field else []
    if spec.custom_type:
        typed = by_type.get(spec.custom_type, [])
        if len(typed) == 1:
            return typed[0]
        if typed:  # several fields of this type (two SLAs): the name decides
            both = [i for i in typed if i in named]
            return both[0] if both else None
    return named[0] if named else None


def resolve(field_list: list[Any] | None, mapping: FieldMapping = MAPPING) -> ResolvedFields:
    """Resolve every mapped column against a ``/field`` list (entries need ``id``/``name``)."""
    by_name: dict[str, list[str]] = {}
    by_type: dict[str, list[str]] = {}
    entries = [f for f in field_list or () if isinstance(f, dict) and isinstance(f.get("id"), str)]
    for entry in sorted(entries, key=lambda f: f["id"]):
        by_name.setdefault(_norm(entry.get("name")), []).append(entry["id"])
        schema = v.as_dict(entry.get("schema"))
        for custom_type in {schema.get("custom"), schema.get("type")}:
            if isinstance(custom_type, str):
                by_type.setdefault(custom_type, []).append(entry["id"])
    return ResolvedFields({c.column: _pick(c, by_name, by_type) for c in mapping.columns},
                          {s.prefix: _pick(s, by_name, by_type) for s in mapping.slas})


def resolve_from_names(names: dict[str, Any], mapping: FieldMapping = MAPPING) -> ResolvedFields:
    """Fallback without a cached field list: the issue's ``names`` (id → name) only."""
    return resolve([{"id": k, "name": n} for k, n in names.items()], mapping)


# ---- readers: raw field value -> column value ---------------------------------------------

def _user(attr: str, value: Any) -> str | None:
    return v.text(v.as_dict(value).get(attr)) if isinstance(value, dict) else v.text(value)


def _users(attr: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [found for found in (_user(attr, item) for item in items) if found is not None]


def _option(value: Any) -> str | None:
    if isinstance(value, list):
        return ", ".join(v.labels(value)) or None
    return v.label(value)


def _options(value: Any) -> list[str] | None:
    return None if value is None else v.labels(value)


def _string(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return adf_to_text(value) if v.as_dict(value).get("type") == "doc" else _option(value)
    return v.text(value)


def _rating(value: Any) -> int | None:
    return v.int64(value.get("rating")) if isinstance(value, dict) else v.int64(value)


def _flag(value: Any) -> bool:
    """A checkbox: any selected option (or a true-ish scalar) is set."""
    if isinstance(value, str):
        return value.strip().casefold() in ("true", "yes", "1", "y")
    return bool(value)


def _request_type(value: Any) -> str | None:
    return v.name_of(v.as_dict(value).get("requestType"))


def _request_status(value: Any) -> str | None:
    return v.name_of(v.as_dict(value).get("currentStatus"), "status")


def reader(spec: ColumnSpec) -> Callable[[Any], Any]:
    """The function turning this column's raw field value into the column value."""
    readers: dict[str, Callable[[Any], Any]] = {
        "string": _string, "url": _string, "adf": adf_to_text, "option": _option,
        "options": _options, "number": v.number, "rating": _rating, "flag": _flag,
        "date": v.calendar_date, "datetime": v.timestamp_text,
        "request_type": _request_type, "request_status": _request_status,
        "user": partial(_user, spec.user_attr), "users": partial(_users, spec.user_attr),
    }
    return readers[spec.kind]


def _sla_cycle(record: Any) -> tuple[dict | None, bool]:
    """(the cycle an SLA's values come from, whether it is still running): the ongoing
    cycle if there is one, else the last completed one; none for an SLA with an error or
    never started."""
    record = v.as_dict(record)
    if record.get("errorMessage") or record.get("error"):
        return None, False
    cycle = record.get("ongoingCycle")
    if isinstance(cycle, dict):
        return cycle, True
    completed = [c for c in v.as_list(record.get("completedCycles")) if isinstance(c, dict)]
    return (completed[-1] if completed else None), False


def sla_values(record: Any) -> tuple[bool | None, int | None, int | None, int | None]:
    """(breached, goal, elapsed, remaining) of an SLA's cycle (:func:`_sla_cycle`); nulls
    when it has none."""
    cycle, _ = _sla_cycle(record)
    if cycle is None:
        return (None, None, None, None)
    breached = cycle.get("breached")
    return (
        breached if isinstance(breached, bool) else None,
        v.int64(v.as_dict(cycle.get("goalDuration")).get("millis")),
        v.int64(v.as_dict(cycle.get("elapsedTime")).get("millis")),
        v.int64(v.as_dict(cycle.get("remainingTime")).get("millis")),
    )


def sla_outcome(record: Any) -> str | None:
    """``breached`` (the cycle breached, finished or not), ``running`` (ongoing, within its
    goal), ``met`` (completed within its goal); ``None`` without a cycle."""
    cycle, ongoing = _sla_cycle(record)
    if cycle is None:
        return None
    if cycle.get("breached") is True:
        return "breached"
    return "running" if ongoing else "met"
