"""The table registry: every Parquet table, once, with its Arrow schema, primary key,
description and column descriptions. Paths, row building, month files, DuckDB views and
comments, Dagster assets and checks, and the docs all derive from :data:`TABLE_SPECS`;
adding a table is an entry here plus its row builder (``rows.py`` for a table read from
the raw issue, ``derived_rows.py`` for one computed from an issue's own rows) and docs.

Every month file of a table is written with exactly its schema (never inferred), so
DuckDB globs over months see one stable type per column: timestamps in UTC microseconds,
counts, seconds and milliseconds int64, flags bool, multi-valued fields ``list<string>``.
The issues table's mapped columns come from ``field_mapping.toml``."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from jira_pipeline.transform.field_map import MAPPING, SLA_PARTS, SLA_TYPES, STRINGS
from jira_pipeline.transform.values import TIMESTAMP

_S, _I, _B = pa.string(), pa.int64(), pa.bool_()
Column = tuple[str, pa.DataType, str]  # name, type, description


@dataclass(frozen=True)
class TableSpec:
    """One table. ``derived`` tables are computed from an issue's own rows (its changelog,
    comments, SLA records…) in the same step that writes them; ``reads`` names the tables
    a derived table is computed from (its upstream assets in Dagster)."""

    name: str
    description: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    derived: bool = False
    reads: tuple[str, ...] = ()

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(name, kind) for name, kind, _ in self.columns])

    @property
    def column_descriptions(self) -> dict[str, str]:
        return {name: text for name, _, text in self.columns}


def _people(role: str, of: str) -> list[Column]:
    return [(f"{role}_account_id", _S, f"{of}: Atlassian account id"),
            (f"{role}_email", _S, f"{of}: email (null when the user hides it)"),
            (f"{role}_name", _S, f"{of}: display name")]


def _mapped_columns() -> list[Column]:
    """The columns ``field_mapping.toml`` maps (then its SLA columns)."""
    found: list[Column] = []
    for spec in MAPPING.columns:
        source = f"field {spec.field!r}" if spec.field else f"field of type {spec.custom_type}"
        found.append((spec.column, _mapped_type(spec.column), f"Jira {source} ({spec.kind})"))
    for sla in MAPPING.slas:
        for column, kind, part in zip(sla.columns, SLA_TYPES, SLA_PARTS, strict=True):
            found.append((column, kind, f"SLA {sla.field!r}: {part.replace('_', ' ')} "
                                        "(JSM overlay, else the SLA field)"))
    return found


def _mapped_type(column: str) -> pa.DataType:
    return next(f.type for f in MAPPING.schema_fields() if f.name == column)


def _sla_outcome_columns() -> list[Column]:
    found: list[Column] = []
    for sla in MAPPING.slas:
        found += [
            (f"{sla.prefix}_outcome", _S, f"SLA {sla.field!r}: met, breached or running "
                                          "(null when the issue has no such SLA)"),
            (f"{sla.prefix}_goal_seconds", _I, f"SLA {sla.field!r}: goal of the cycle"),
            (f"{sla.prefix}_elapsed_seconds", _I, f"SLA {sla.field!r}: elapsed time of the "
                                                  "cycle (business hours of its calendar)"),
        ]
    return found


TABLE_SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        "issues",
        "One row per issue: fields, people, JSM request data, SLA clocks, mapped custom "
        "fields (custom_fields keeps the unmapped ones as JSON).",
        (
            ("issue_key", _S, "Issue key (the raw file's name)"),
            ("issue_id", _S, "Jira issue id"),
            ("issue_url", _S, "https://<site>/browse/<key>"),
            ("summary", _S, "Summary"),
            ("description", _S, "Description, ADF converted to text"),
            ("issue_type", _S, "Issue type name"),
            ("status", _S, "Current status name"),
            ("status_category", _S, "Current status category: To Do, In Progress, Done"),
            ("priority", _S, "Priority name"),
            ("resolution", _S, "Resolution name (null while unresolved)"),
            ("project_key", _S, "Project key"),
            ("project_name", _S, "Project name"),
            ("parent_key", _S, "Parent issue key (sub-tasks, child issues)"),
            *_people("creator", "Creator"), *_people("reporter", "Reporter"),
            *_people("assignee", "Current assignee"),
            ("created_at", TIMESTAMP, "Created (its UTC month files the issue)"),
            ("updated_at", TIMESTAMP, "Last updated"),
            ("resolved_at", TIMESTAMP, "Resolution date (null while unresolved)"),
            ("due_date", pa.date32(), "Due date (a calendar date)"),
            ("labels", STRINGS, "Labels"),
            ("components", STRINGS, "Component names"),
            ("fix_versions", STRINGS, "Fix version names"),
            ("attachment_count", _I, "Number of attachments"),
            ("comment_count", _I, "Number of comments"),
            ("issuelink_count", _I, "Number of issue links"),
            *_mapped_columns(),
            ("custom_fields", _S, "Every non-null custom field no column reads, as JSON"),
            ("_synced_at", TIMESTAMP, "When the raw store last fetched the issue"),
            ("_raw_file", _S, "The raw JSON file, relative to the data root"),
        ),
        ("issue_key",),
    ),
    TableSpec(
        "comments",
        "One row per comment, body as text, JSM public/internal flag.",
        (
            ("comment_id", _S, "Comment id"),
            ("issue_key", _S, "The issue"),
            *_people("author", "Author"),
            ("body", _S, "Body, ADF converted to text"),
            ("created_at", TIMESTAMP, "Created"),
            ("updated_at", TIMESTAMP, "Last edited"),
            ("update_author_email", _S, "Email of the last editor"),
            ("public", _B, "Visible to the customer (no restriction, not a JSM internal note)"),
        ),
        ("issue_key", "comment_id"),
    ),
    TableSpec(
        "attachments",
        "One row per attachment, with the local file path when downloaded.",
        (
            ("attachment_id", _S, "Attachment id"),
            ("issue_key", _S, "The issue"),
            ("filename", _S, "File name as Jira has it"),
            ("local_path", _S, "Downloaded file, relative to the data root (null if not)"),
            ("size_bytes", _I, "Size in bytes"),
            ("mime_type", _S, "MIME type"),
            ("author_email", _S, "Uploader's email"),
            ("created_at", TIMESTAMP, "Uploaded"),
            ("content_url", _S, "Download URL in Jira"),
            ("thumbnail_url", _S, "Thumbnail URL (images only)"),
        ),
        ("issue_key", "attachment_id"),
    ),
    TableSpec(
        "changelog",
        "One row per changed field of each changelog entry.",
        (
            ("change_id", _S, "Changelog entry id"),
            ("item_index", _I, "Position of the item in the entry (0-based)"),
            ("issue_key", _S, "The issue"),
            *_people("author", "Who made the change"),
            ("field_name", _S, "Field name (status, assignee, Severity…)"),
            ("field_id", _S, "Field id (status, customfield_10100…)"),
            ("field_type", _S, "jira or custom"),
            ("from_value", _S, "Display value before"),
            ("from_id", _S, "Id before (status id, account id…)"),
            ("to_value", _S, "Display value after"),
            ("to_id", _S, "Id after"),
            ("changed_at", TIMESTAMP, "When the change was made"),
        ),
        ("issue_key", "change_id", "item_index"),
    ),
    TableSpec(
        "issuelinks",
        "One row per issue link and direction, with the linked issue's summary.",
        (
            ("issue_key", _S, "The issue"),
            ("link_id", _S, "Link id"),
            ("link_type", _S, "Link type (Blocks, Duplicate, Relates…)"),
            ("direction", _S, "outward (this issue → other) or inward (other → this issue)"),
            ("linked_issue_key", _S, "The other issue's key"),
            ("linked_issue_summary", _S, "The other issue's summary"),
            ("linked_issue_status", _S, "The other issue's status"),
            ("linked_issue_priority", _S, "The other issue's priority"),
        ),
        ("issue_key", "link_id"),
    ),
    TableSpec(
        "remote_links",
        "One row per remote link (Confluence, Slack, …).",
        (
            ("issue_key", _S, "The issue"),
            ("remote_link_id", _S, "Remote link id"),
            ("url", _S, "Target URL"),
            ("title", _S, "Target title"),
            ("application_name", _S, "Application name (e.g. Confluence)"),
            ("application_type", _S, "Application type (e.g. com.atlassian.confluence)"),
            ("relationship", _S, "Relationship text (e.g. mentioned in)"),
            ("global_id", _S, "Global id of the target"),
        ),
        ("issue_key", "remote_link_id"),
    ),
    TableSpec(
        "status_intervals",
        "One row per issue and status stay, from the changelog and the issue's created time "
        "and current status: the stays of an issue tile [created, now) without gaps or "
        "overlaps; the current stay has no left_at.",
        (
            ("issue_key", _S, "The issue"),
            ("stay_index", _I, "Position of the stay in the issue's life (0-based)"),
            ("status", _S, "Status name during the stay"),
            ("status_id", _S, "Status id (null when the changelog did not give one)"),
            ("status_category", _S, "To Do, In Progress or Done (see the analyst guide: "
                                    "how categories are inferred)"),
            ("entered_at", TIMESTAMP, "Start of the stay (the issue's created for the first)"),
            ("left_at", TIMESTAMP, "End of the stay; null for the current stay"),
            ("duration_seconds", _I, "left_at - entered_at in seconds; null for the current stay"),
            ("assignee_account_id", _S, "Assignee when the stay began (account id)"),
            ("assignee_name", _S, "Assignee when the stay began (display name)"),
            ("entered_by_account_id", _S, "Who moved the issue into the status (the "
                                          "creator for the first stay)"),
            ("entered_by_name", _S, "Display name of entered_by"),
            ("is_reopen", _B, "A stay outside Done after a Done one"),
        ),
        ("issue_key", "stay_index"),
        derived=True,
        reads=("issues", "changelog"),
    ),
    TableSpec(
        "issue_metrics",
        "One row per issue: first response (JSM-aware), assignment and resolution "
        "milestones, reopens, time per status category, SLA outcome per SLA, comment and "
        "attachment totals. Open durations run to as_of (when the issue was fetched).",
        (
            ("issue_key", _S, "The issue"),
            ("created_at", TIMESTAMP, "Created"),
            ("as_of", TIMESTAMP, "When the raw issue was fetched: open clocks stop here"),
            ("first_response_at", TIMESTAMP, "First public comment by someone other than "
                                             "the reporter (JSM internal notes excluded)"),
            ("first_assigned_at", TIMESTAMP, "First time the issue had an assignee"),
            ("last_assigned_at", TIMESTAMP, "Last time the assignee was set to someone"),
            ("assignee_count", _I, "Distinct assignees over the issue's life"),
            ("first_resolved_at", TIMESTAMP, "First time a resolution was set"),
            ("last_resolved_at", TIMESTAMP, "Last time a resolution was set"),
            ("reopen_count", _I, "Stays outside Done after a Done one"),
            ("open_duration_seconds", _I, "created → resolved_at, or → as_of while unresolved"),
            ("to_do_seconds", _I, "Time in To Do statuses (current stay up to as_of)"),
            ("in_progress_seconds", _I, "Time in In Progress statuses"),
            ("done_seconds", _I, "Time in Done statuses"),
            *_sla_outcome_columns(),
            ("public_comment_count", _I, "Comments visible to the customer"),
            ("internal_comment_count", _I, "Internal comments (JSM notes, restricted)"),
            ("attachment_bytes", _I, "Total size of the attachments"),
        ),
        ("issue_key",),
        derived=True,
        reads=("issues", "comments", "attachments", "changelog", "status_intervals"),
    ),
)

SPECS: dict[str, TableSpec] = {spec.name: spec for spec in TABLE_SPECS}
TABLES: tuple[str, ...] = tuple(SPECS)
SOURCE_TABLES: tuple[str, ...] = tuple(s.name for s in TABLE_SPECS if not s.derived)
DERIVED_TABLES: tuple[str, ...] = tuple(s.name for s in TABLE_SPECS if s.derived)
SCHEMAS: dict[str, pa.Schema] = {spec.name: spec.schema for spec in TABLE_SPECS}
# Primary keys; also the sort order of every month file (so rebuild == incremental).
KEYS: dict[str, tuple[str, ...]] = {spec.name: spec.keys for spec in TABLE_SPECS}

for _spec in TABLE_SPECS:
    _names = _spec.schema.names
    if len(set(_names)) != len(_names):
        raise ValueError(f"table {_spec.name} names a column twice (field_mapping.toml?)")
    if "issue_key" not in _names or not set(_spec.keys) <= set(_names):
        raise ValueError(f"table {_spec.name}: every table has issue_key and its key columns")
