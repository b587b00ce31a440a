"""One raw issue (the stored REST v3 JSON plus our overlays) → rows of every table in the registry.

Pure functions of the raw JSON (and which attachment files exist), so the incremental
upsert and the full rebuild produce identical rows. Child rows are deduplicated by their
primary key within the issue; values of unexpected types become nulls, never errors.

The issues row is a dict (its mapped columns vary by site); child rows, many per issue,
are tuples in their schema's column order: about twice as fast to build and to convert
to Arrow as dicts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from jira_pipeline.core.dates import month_of
from jira_pipeline.jira.adf import adf_to_text
from jira_pipeline.transform import values as v
from jira_pipeline.transform.derived_rows import add_derived_rows
from jira_pipeline.transform.field_map import (
    MAPPING,
    ResolvedFields,
    reader,
    resolve_from_names,
    sla_values,
)
from jira_pipeline.transform.schemas import SCHEMAS, TABLES

Rows = dict[str, list[Any]]  # issues: dicts; other tables: tuples in column order
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_READERS = [(spec.column, reader(spec)) for spec in MAPPING.columns]


@dataclass(frozen=True)
class RawIssue:
    """A stored issue file as the transform sees it."""

    key: str
    data: dict[str, Any]
    raw_file: str  # path relative to the data root
    mtime_ns: int  # the file's mtime: `_synced_at` when `_fetched_at` is missing
    size: int
    attachment_files: tuple[str, ...] = ()  # names in raw/jira/attachments/KEY/
    attachments_dir: str = ""  # that folder, relative to the data root
    inode: int = 0  # with mtime and size: which version of the file was read

    @property
    def version(self) -> tuple[int, int, int]:
        return (self.inode, self.mtime_ns, self.size)

    @property
    def modified_at(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.mtime_ns // 1000)


def is_deleted(data: dict[str, Any]) -> bool:
    return bool(data.get("_deleted_at"))


def issue_month(data: dict[str, Any]) -> str | None:
    """``YYYY-MM`` of ``fields.created`` in UTC; ``None`` when it is missing or unreadable
    (such an issue cannot be filed under a month and is skipped)."""
    created = v.as_dict(data.get("fields")).get("created")
    if not isinstance(created, str):
        return None
    try:
        return created_month(created)
    except (ValueError, TypeError, OverflowError):
        return None


# A Jira timestamp whose local day is the 2nd to the 27th: no UTC offset (under 24 h) moves
# it into another month, so its month is its first seven characters.
_MID_MONTH_TIMESTAMP = re.compile(
    r"[1-9]\d{3}-(?:0[1-9]|1[0-2])-(?:0[2-9]|1\d|2[0-7])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(?:\.\d{1,6})?(?:[+-](?:[01]\d|2[0-3]):?[0-5]\d|Z)",
    re.ASCII,
)


def created_month(created: str) -> str:
    """:func:`month_of` a ``created`` string, without parsing it when it plainly lies
    mid-month (most do; parsing and formatting is most of the cost of filing a raw file)."""
    if _MID_MONTH_TIMESTAMP.fullmatch(created):
        return created[:7]
    return month_of(created)


def empty_rows(tables: tuple[str, ...] = TABLES) -> Rows:
    """Row lists of ``tables`` (the derived ones are built only when they are listed)."""
    return {table: [] for table in tables}


def add_issue_rows(rows: Rows, issue: RawIssue, resolved: ResolvedFields | None) -> None:
    """Append ``issue``'s rows to ``rows`` (one issues row plus its children)."""
    data = issue.data
    fields = v.as_dict(data.get("fields"))
    key = issue.key
    if resolved is None:
        resolved = resolve_from_names(v.as_dict(data.get("names")))
    comments, comment_total = _comment_list(fields.get("comment"))
    attachments = [a for a in v.as_list(fields.get("attachment")) if isinstance(a, dict)]
    links = [link for link in v.as_list(fields.get("issuelinks")) if isinstance(link, dict)]

    row = _issue_columns(key, data, fields)
    row["attachment_count"] = len(attachments)
    row["comment_count"] = max(comment_total, len(comments))
    row["issuelink_count"] = len(links)
    for column, read in _READERS:
        field_id = resolved.column_ids.get(column)
        row[column] = read(fields.get(field_id)) if field_id else None
    slas = _sla_records(data, fields, resolved)
    for sla, (_, record) in zip(MAPPING.slas, slas, strict=True):
        for column, value in zip(sla.columns, sla_values(record), strict=True):
            row[column] = value
    mapped = resolved.mapped_ids
    unmapped = {k: val for k, val in fields.items()
                if val is not None and k.startswith("customfield_") and k not in mapped
                and val != []}
    row["custom_fields"] = v.to_json_text(unmapped) if unmapped else None
    fetched = data.get("_fetched_at")
    row["_synced_at"] = fetched if isinstance(fetched, str) else issue.modified_at.isoformat()
    row["_raw_file"] = issue.raw_file
    rows["issues"].append(row)

    starts = (len(rows["comments"]), len(rows["attachments"]), len(rows["changelog"]))
    _add_comments(rows["comments"], key, comments)
    _add_attachments(rows["attachments"], issue, attachments)
    _add_changelog(rows["changelog"], key, data.get("changelog"))
    _add_links(rows["issuelinks"], key, links)
    _add_remote_links(rows["remote_links"], key, data.get("_remote_links"))
    if "issue_metrics" in rows:  # rows for every table (benchmarks also build without)
        add_derived_rows(rows, row, rows["changelog"][starts[2]:],
                         rows["comments"][starts[0]:], rows["attachments"][starts[1]:], slas)


def _row_type(schema: pa.Schema) -> pa.StructType:
    """The schema as a struct of the row dicts, timestamps still Jira strings."""
    return pa.struct([pa.field(f.name, pa.string() if f.type == v.TIMESTAMP else f.type)
                      for f in schema])


_ROW_TYPES = {table: _row_type(schema) for table, schema in SCHEMAS.items()}


def to_tables(rows: Rows) -> dict[str, pa.Table]:
    """Rows → typed Arrow tables. Arrow reads the rows (dicts or tuples) as one struct
    array (the per-column transpose then runs in C++, about twice as fast as building a
    Python list per column); timestamp columns stay Jira strings until here, so Arrow
    parses a whole column at once."""
    tables = {}
    for table, table_rows in rows.items():
        schema = SCHEMAS[table]
        columns = pa.array(table_rows, type=_ROW_TYPES[table]).flatten()
        tables[table] = pa.Table.from_arrays(
            [v.timestamp_array(column) if field.type == v.TIMESTAMP else column
             for field, column in zip(schema, columns, strict=True)],
            schema=schema,
        )
    return tables


# ---- issues ------------------------------------------------------------------------------

def _person(prefix: str, user: Any, row: dict[str, Any]) -> None:
    user = v.as_dict(user)
    row[f"{prefix}_account_id"] = v.text(user.get("accountId"))
    row[f"{prefix}_email"] = v.text(user.get("emailAddress"))
    row[f"{prefix}_name"] = v.text(user.get("displayName"))


def _browse_url(self_url: Any, key: str) -> str | None:
    """``https://site/rest/api/3/issue/10002`` → ``https://site/browse/KEY``."""
    if not isinstance(self_url, str) or "/rest/" not in self_url:
        return None
    site = self_url.split("/rest/", 1)[0]
    return f"{site}/browse/{key}" if site.startswith(("https://", "http://")) else None


def _issue_columns(key: str, data: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    status = v.as_dict(fields.get("status"))
    project = v.as_dict(fields.get("project"))
    row: dict[str, Any] = {
        "issue_key": key,
        "issue_id": v.identifier(data.get("id")),
        "issue_url": _browse_url(data.get("self"), key),
        "summary": v.text(fields.get("summary")),
        "description": adf_to_text(fields.get("description")),
        "issue_type": v.name_of(fields.get("issuetype")),
        "status": v.text(status.get("name")),
        "status_category": v.name_of(status.get("statusCategory")),
        "priority": v.name_of(fields.get("priority")),
        "resolution": v.name_of(fields.get("resolution")),
        "project_key": v.text(project.get("key")),
        "project_name": v.text(project.get("name")),
        "parent_key": v.text(v.as_dict(fields.get("parent")).get("key")),
        "created_at": v.timestamp_text(fields.get("created")),
        "updated_at": v.timestamp_text(fields.get("updated")),
        "resolved_at": v.timestamp_text(fields.get("resolutiondate")),
        "due_date": v.calendar_date(fields.get("duedate")),
        "labels": [label for label in v.as_list(fields.get("labels")) if isinstance(label, str)],
        "components": v.labels(v.as_list(fields.get("components"))),
        "fix_versions": v.labels(v.as_list(fields.get("fixVersions"))),
    }
    for role in ("creator", "reporter", "assignee"):
        _person(role, fields.get(role), row)
    return row


def _sla_records(data: dict[str, Any], fields: dict[str, Any],
                 resolved: ResolvedFields) -> list[tuple[str, Any]]:
    """(prefix, record) of every mapped SLA: the JSM SLA overlay (``_sla``, fresher) wins;
    else the SLA field in the issue; ``None`` when neither has it."""
    overlay = {}
    for record in v.as_list(data.get("_sla")):
        name = v.as_dict(record).get("name")
        if isinstance(name, str):
            overlay.setdefault(name.strip().casefold(), record)
    found = []
    for sla in MAPPING.slas:
        record = overlay.get((sla.field or "").strip().casefold())
        if record is None:
            field_id = resolved.sla_ids.get(sla.prefix)
            record = fields.get(field_id) if field_id else None
        found.append((sla.prefix, record))
    return found


# ---- children ----------------------------------------------------------------------------

def _comment_list(comment_field: Any) -> tuple[list[dict], int]:
    """``{"comments": [...], "total": n}`` (real API) or a bare list (OpenAPI example)."""
    if isinstance(comment_field, dict):
        items = comment_field.get("comments")
        total = v.int64(comment_field.get("total")) or 0
    else:
        items, total = comment_field, 0
    return [c for c in v.as_list(items) if isinstance(c, dict)], total


def _is_public(comment: dict[str, Any]) -> bool:
    """Visible to the customer: no role/group restriction and not an internal JSM note."""
    return comment.get("visibility") is None and comment.get("jsdPublic") is not False


def _add_comments(out: list[tuple], key: str, comments: list[dict]) -> None:
    seen: set[str] = set()
    for comment in comments:
        comment_id = v.identifier(comment.get("id"))
        if comment_id is None or comment_id in seen:
            continue
        seen.add(comment_id)
        author = v.as_dict(comment.get("author"))
        out.append((
            comment_id,
            key,
            v.text(author.get("accountId")),  # author_account_id
            v.text(author.get("emailAddress")),  # author_email
            v.text(author.get("displayName")),  # author_name
            adf_to_text(comment.get("body")),
            v.timestamp_text(comment.get("created")),
            v.timestamp_text(comment.get("updated")),
            v.text(v.as_dict(comment.get("updateAuthor")).get("emailAddress")),
            _is_public(comment),
        ))


def _add_attachments(out: list[tuple], issue: RawIssue, attachments: list[dict]) -> None:
    seen: set[str] = set()
    for attachment in attachments:
        attachment_id = v.identifier(attachment.get("id"))
        if attachment_id is None or attachment_id in seen:
            continue
        seen.add(attachment_id)
        prefix = f"{attachment_id}_"
        stored = next((n for n in issue.attachment_files if n.startswith(prefix)), None)
        out.append((
            attachment_id,
            issue.key,
            v.text(attachment.get("filename")),
            f"{issue.attachments_dir}/{stored}" if stored else None,  # local_path
            v.int64(attachment.get("size")),
            v.text(attachment.get("mimeType")),
            v.text(v.as_dict(attachment.get("author")).get("emailAddress")),  # author_email
            v.timestamp_text(attachment.get("created")),
            v.text(attachment.get("content")),
            v.text(attachment.get("thumbnail")),
        ))


def _add_changelog(out: list[tuple], key: str, changelog: Any) -> None:
    seen: set[str] = set()
    for history in v.as_list(v.as_dict(changelog).get("histories")):
        if not isinstance(history, dict):
            continue
        change_id = v.identifier(history.get("id"))
        if change_id is None or change_id in seen:
            continue
        seen.add(change_id)
        author = v.as_dict(history.get("author"))
        account_id = v.text(author.get("accountId"))
        email = v.text(author.get("emailAddress"))
        name = v.text(author.get("displayName"))
        changed_at = v.timestamp_text(history.get("created"))
        for index, item in enumerate(v.as_list(history.get("items"))):
            get = v.as_dict(item).get
            out.append((
                change_id, index, key, account_id, email, name,
                v.text(get("field")), v.text(get("fieldId")), v.text(get("fieldtype")),
                v.text(get("fromString")), v.text(get("from")),  # from_value, from_id
                v.text(get("toString")), v.text(get("to")),  # to_value, to_id
                changed_at,
            ))


def _add_links(out: list[tuple], key: str, links: list[dict]) -> None:
    seen: set[str] = set()
    for link in links:
        link_id = v.identifier(link.get("id"))
        if link_id is None or link_id in seen:
            continue
        seen.add(link_id)
        if isinstance(link.get("outwardIssue"), dict):
            direction, other = "outward", link["outwardIssue"]
        else:
            direction, other = "inward", v.as_dict(link.get("inwardIssue"))
        other_fields = v.as_dict(other.get("fields"))
        out.append((
            key,
            link_id,
            v.name_of(link.get("type")),  # link_type
            direction,
            v.text(other.get("key")),  # linked_issue_key
            v.text(other_fields.get("summary")),
            v.name_of(other_fields.get("status")),
            v.name_of(other_fields.get("priority")),
        ))


def _add_remote_links(out: list[tuple], key: str, remote_links: Any) -> None:
    seen: set[str] = set()
    for link in v.as_list(remote_links):
        link = v.as_dict(link)
        link_id = v.identifier(link.get("id"))
        if link_id is None or link_id in seen:
            continue
        seen.add(link_id)
        target = v.as_dict(link.get("object"))
        application = v.as_dict(link.get("application"))
        out.append((
            key,
            link_id,
            v.text(target.get("url")),
            v.text(target.get("title")),
            v.text(application.get("name")),  # application_name
            v.text(application.get("type")),  # application_type
            v.text(link.get("relationship")),
            v.text(link.get("globalId")),
        ))
