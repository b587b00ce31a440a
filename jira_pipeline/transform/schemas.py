"""The six tables' explicit Arrow schemas and primary keys.

Every month file of a table is written with exactly this schema (never inferred), so
DuckDB globs over months see one stable type per column: timestamps in UTC microseconds,
counts and milliseconds int64, flags bool, multi-valued fields ``list<string>``. The
issues table's mapped columns come from ``field_mapping.toml``."""

from __future__ import annotations

import pyarrow as pa

from jira_pipeline.storage.paths import TABLES
from jira_pipeline.transform.field_map import MAPPING, STRINGS
from jira_pipeline.transform.values import TIMESTAMP

_S, _I, _B = pa.string(), pa.int64(), pa.bool_()


def _people(role: str) -> list[tuple[str, pa.DataType]]:
    return [(f"{role}_account_id", _S), (f"{role}_email", _S), (f"{role}_name", _S)]


ISSUE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("issue_key", _S), ("issue_id", _S), ("issue_url", _S), ("summary", _S),
    ("description", _S), ("issue_type", _S), ("status", _S), ("status_category", _S),
    ("priority", _S), ("resolution", _S), ("project_key", _S), ("project_name", _S),
    ("parent_key", _S), *_people("creator"), *_people("reporter"), *_people("assignee"),
    ("created_at", TIMESTAMP), ("updated_at", TIMESTAMP), ("resolved_at", TIMESTAMP),
    ("due_date", pa.date32()), ("labels", STRINGS), ("components", STRINGS),
    ("fix_versions", STRINGS), ("attachment_count", _I), ("comment_count", _I),
    ("issuelink_count", _I),
]
ISSUE_TRAILER: list[tuple[str, pa.DataType]] = [
    ("custom_fields", _S), ("_synced_at", TIMESTAMP), ("_raw_file", _S),
]

SCHEMAS: dict[str, pa.Schema] = {
    "issues": pa.schema(
        [pa.field(n, t) for n, t in ISSUE_COLUMNS] + MAPPING.schema_fields()
        + [pa.field(n, t) for n, t in ISSUE_TRAILER]
    ),
    "comments": pa.schema([
        ("comment_id", _S), ("issue_key", _S), ("author_account_id", _S), ("author_email", _S),
        ("author_name", _S), ("body", _S), ("created_at", TIMESTAMP), ("updated_at", TIMESTAMP),
        ("update_author_email", _S), ("public", _B),
    ]),
    "attachments": pa.schema([
        ("attachment_id", _S), ("issue_key", _S), ("filename", _S), ("local_path", _S),
        ("size_bytes", _I), ("mime_type", _S), ("author_email", _S), ("created_at", TIMESTAMP),
        ("content_url", _S), ("thumbnail_url", _S),
    ]),
    "changelog": pa.schema([
        ("change_id", _S), ("item_index", _I), ("issue_key", _S), ("author_account_id", _S),
        ("author_email", _S), ("author_name", _S), ("field_name", _S), ("field_id", _S),
        ("field_type", _S), ("from_value", _S), ("from_id", _S), ("to_value", _S),
        ("to_id", _S), ("changed_at", TIMESTAMP),
    ]),
    "issuelinks": pa.schema([
        ("issue_key", _S), ("link_id", _S), ("link_type", _S), ("direction", _S),
        ("linked_issue_key", _S), ("linked_issue_summary", _S), ("linked_issue_status", _S),
        ("linked_issue_priority", _S),
    ]),
    "remote_links": pa.schema([
        ("issue_key", _S), ("remote_link_id", _S), ("url", _S), ("title", _S),
        ("application_name", _S), ("application_type", _S), ("relationship", _S),
        ("global_id", _S),
    ]),
}

# Primary keys; also the sort order of every month file (so rebuild == incremental).
KEYS: dict[str, tuple[str, ...]] = {
    "issues": ("issue_key",),
    "comments": ("issue_key", "comment_id"),
    "attachments": ("issue_key", "attachment_id"),
    "changelog": ("issue_key", "change_id", "item_index"),
    "issuelinks": ("issue_key", "link_id"),
    "remote_links": ("issue_key", "remote_link_id"),
}

if not tuple(SCHEMAS) == TABLES == tuple(KEYS):
    raise RuntimeError("SCHEMAS and KEYS must cover storage.paths.TABLES, in order")
_issue_names = SCHEMAS["issues"].names
if len(set(_issue_names)) != len(_issue_names):
    raise ValueError("field_mapping.toml maps a column name the issues table already has")
