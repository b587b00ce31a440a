"""Raw issue JSON → rows: every column of a rich issue checked against its source JSON,
field mapping through /field (JSM by schema type, site fields by name), SLA rules, the
shared corpus, and hostile data (nulls everywhere, huge fields, deep nesting, odd Unicode)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jira_pipeline.storage import DataRoot, atomic_write_bytes
from jira_pipeline.transform.field_map import load_mapping, resolve, resolve_from_names, sla_values
from jira_pipeline.transform.rows import RawIssue, add_issue_rows, empty_rows, to_tables
from jira_pipeline.transform.schemas import SCHEMAS
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline.transform.views import read_table
from jira_pipeline_tests.fixtures.common import load_shared_sample, shared_sample_params
from jira_pipeline_tests.fixtures.transform_data import (
    field_list,
    rich_issue,
    write_field_list,
    write_raw,
)


def transform(
    issue: dict[str, Any], fields: list | None = None, *, key: str | None = None
) -> dict[str, pa.Table]:
    rows = empty_rows()
    raw = RawIssue(key or issue.get("key") or "X-1", issue, "raw/jira/issues/X.json", 0, 0)
    add_issue_rows(rows, raw, resolve(fields) if fields is not None else None)
    return to_tables(rows)


def only_issue_row(issue: dict[str, Any], fields: list | None = None) -> dict[str, Any]:
    return transform(issue, fields)["issues"].to_pylist()[0]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---- the rich issue, end to end, every column ------------------------------------------------


@pytest.fixture
def rich_root(data_root: DataRoot) -> DataRoot:
    write_field_list(data_root)
    write_raw(data_root, rich_issue())
    folder = data_root.issue_attachments_dir("SUP-42")
    folder.mkdir(parents=True)
    (folder / "10500_screenshot.png").write_bytes(b"\x89PNG")
    upsert_issues(data_root, ["SUP-42"])
    return data_root


def test_rich_issue_every_issue_column(rich_root: DataRoot):
    src = rich_issue()
    f = src["fields"]
    table = read_table(rich_root, "issues")
    assert table.schema.equals(SCHEMAS["issues"])
    (row,) = table.to_pylist()
    sla_first = src["_sla"][0]["ongoingCycle"]  # the overlay wins over the (empty) field
    sla_resolution = f["customfield_10033"]["completedCycles"][-1]  # no ongoing: last completed
    expected = {
        "issue_key": src["key"],
        "issue_id": src["id"],
        "issue_url": "https://example-sd.atlassian.net/browse/SUP-42",
        "summary": f["summary"],
        "description": (
            "Login fails\nHi @Mia Krystof, see the runbook (https://wiki.example/runbook) and "
            "https://example-sd.atlassian.net/browse/ENG-12 :warning:\n- step one\n- step two\n"
            "  1. nested\ncurl -i https://api.example/login\nexit 1\nBrowser | Result\n"
            "Firefox | 500\n[attachment: screenshot.png]\nline one\nline two"
        ),
        "issue_type": f["issuetype"]["name"],
        "status": f["status"]["name"],
        "status_category": f["status"]["statusCategory"]["name"],
        "priority": f["priority"]["name"],
        "resolution": f["resolution"]["name"],
        "project_key": f["project"]["key"],
        "project_name": f["project"]["name"],
        "parent_key": f["parent"]["key"],
        **{
            f"{role}_{col}": f[role].get(attr)
            for role in ("creator", "reporter", "assignee")
            for col, attr in (
                ("account_id", "accountId"),
                ("email", "emailAddress"),
                ("name", "displayName"),
            )
        },
        # 00:30 at +0100 on 1 March is 29 February in UTC
        "created_at": datetime(2024, 2, 29, 23, 30, tzinfo=UTC),
        "updated_at": utc("2024-03-02T10:00:00+01:00"),
        "resolved_at": utc("2024-03-03T12:00:00+00:00"),
        "due_date": date.fromisoformat(f["duedate"]),
        "labels": f["labels"],
        "components": [c["name"] for c in f["components"]],
        "fix_versions": [v["name"] for v in f["fixVersions"]],
        "attachment_count": len(f["attachment"]),
        "comment_count": f["comment"]["total"],
        "issuelink_count": len(f["issuelinks"]),
        "request_type": f["customfield_10010"]["requestType"]["name"],
        "request_status": f["customfield_10010"]["currentStatus"]["status"],
        "organizations": [o["name"] for o in f["customfield_10002"]],
        "participants": [u["displayName"] for u in f["customfield_10026"]],
        "satisfaction": f["customfield_10027"]["rating"],
        "severity": f["customfield_10100"]["value"],
        "triage": f["customfield_10101"]["value"],
        "configuration_item": [o["value"] for o in f["customfield_10102"]],
        "spam": True,
        "context": f["customfield_10104"]["content"][0]["content"][0]["text"],
        "custom_url": f["customfield_10105"],
        "slack_link": f["customfield_10106"],
        "technical_issue_category": [o["value"] for o in f["customfield_10107"]],
        "email_address": f["customfield_10108"],
        "l3_team": f["customfield_10109"]["value"],
        "first_response_breached": sla_first["breached"],
        "first_response_goal_millis": sla_first["goalDuration"]["millis"],
        "first_response_elapsed_millis": sla_first["elapsedTime"]["millis"],
        "first_response_remaining_millis": sla_first["remainingTime"]["millis"],
        "time_to_resolution_breached": sla_resolution["breached"],
        "time_to_resolution_goal_millis": sla_resolution["goalDuration"]["millis"],
        "time_to_resolution_elapsed_millis": sla_resolution["elapsedTime"]["millis"],
        "time_to_resolution_remaining_millis": sla_resolution["remainingTime"]["millis"],
        "custom_fields": {
            k: f[k]
            for k in (
                "customfield_10000",
                "customfield_10016",
                "customfield_10019",
                "customfield_10110",
            )
        },
        "_synced_at": utc(src["_fetched_at"]),
        "_raw_file": "raw/jira/issues/SUP/0/SUP-42.json.zst",
    }
    assert set(expected) == set(SCHEMAS["issues"].names)
    row["custom_fields"] = json.loads(row["custom_fields"])
    for column, value in expected.items():
        assert row[column] == value, column
    assert row["reporter_email"] == "two@customer.example" and row["assignee_name"] == "Mia Krystof"
    assert row["first_response_remaining_millis"] < 0  # breached: negative remaining time


def test_rich_issue_child_tables(rich_root: DataRoot):
    src = rich_issue()
    f = src["fields"]
    comments = read_table(rich_root, "comments").to_pylist()
    assert [c["comment_id"] for c in comments] == [c["id"] for c in f["comment"]["comments"]]
    assert [c["public"] for c in comments] == [True, False, False]  # jsdPublic false; role-only
    assert comments[0]["body"] == "It still fails for me."
    assert comments[1]["update_author_email"] is None  # Sam hides his address
    assert comments[0]["created_at"] == utc("2024-03-01T09:15:00+05:30")
    assert set(comments[0]) == set(SCHEMAS["comments"].names)
    assert comments[2] == {
        "comment_id": "10102",
        "issue_key": "SUP-42",
        "author_account_id": f["comment"]["comments"][2]["author"]["accountId"],
        "author_email": "mia@example.com",
        "author_name": "Mia Krystof",
        "body": "Admins only note.",
        "created_at": utc("2024-03-02T10:00:00+01:00"),
        "updated_at": utc("2024-03-02T10:00:00+01:00"),
        "update_author_email": "mia@example.com",
        "public": False,
    }

    attachments = read_table(rich_root, "attachments").to_pylist()
    first, second = f["attachment"]
    assert attachments == [
        {
            "attachment_id": "10500",
            "issue_key": "SUP-42",
            "filename": first["filename"],
            "local_path": "raw/jira/attachments/SUP-42/10500_screenshot.png",
            "size_bytes": first["size"],
            "mime_type": first["mimeType"],
            "author_email": first["author"]["emailAddress"],
            "created_at": utc("2024-03-01T00:31:00+01:00"),
            "content_url": first["content"],
            "thumbnail_url": first["thumbnail"],
        },
        {
            "attachment_id": "10501",
            "issue_key": "SUP-42",
            "filename": second["filename"],
            "local_path": None,
            "size_bytes": second["size"],
            "mime_type": second["mimeType"],
            "author_email": second["author"]["emailAddress"],
            "created_at": utc("2024-03-01T11:00:00+01:00"),
            "content_url": second["content"],
            "thumbnail_url": None,
        },
    ]

    changelog = read_table(rich_root, "changelog").to_pylist()
    changed_at = {
        "2024-03-01T10:05:00.000+0100": datetime(2024, 3, 1, 9, 5, tzinfo=UTC),
        "2024-03-02T04:00:00.000-0500": datetime(2024, 3, 2, 9, 0, tzinfo=UTC),
    }
    expected_changes = []
    for history in src["changelog"]["histories"]:
        for index, item in enumerate(history["items"]):
            expected_changes.append(
                {
                    "change_id": history["id"],
                    "item_index": index,
                    "issue_key": "SUP-42",
                    "author_account_id": history["author"]["accountId"],
                    "author_email": history["author"].get("emailAddress"),
                    "author_name": history["author"]["displayName"],
                    "field_name": item["field"],
                    "field_id": item["fieldId"],
                    "field_type": item["fieldtype"],
                    "from_value": item["fromString"],
                    "from_id": item["from"],
                    "to_value": item["toString"],
                    "to_id": item["to"],
                    "changed_at": changed_at[history["created"]],
                }
            )
    assert changelog == expected_changes

    links = read_table(rich_root, "issuelinks").to_pylist()
    out_link, in_link = f["issuelinks"]
    assert links == [
        {
            "issue_key": "SUP-42",
            "link_id": out_link["id"],
            "link_type": "Blocks",
            "direction": "outward",
            "linked_issue_key": out_link["outwardIssue"]["key"],
            "linked_issue_summary": out_link["outwardIssue"]["fields"]["summary"],
            "linked_issue_status": "In Progress",
            "linked_issue_priority": "Highest",
        },
        {
            "issue_key": "SUP-42",
            "link_id": in_link["id"],
            "link_type": "Duplicate",
            "direction": "inward",
            "linked_issue_key": in_link["inwardIssue"]["key"],
            "linked_issue_summary": in_link["inwardIssue"]["fields"]["summary"],
            "linked_issue_status": "Closed",
            "linked_issue_priority": "Medium",
        },
    ]

    remote = read_table(rich_root, "remote_links").to_pylist()
    assert remote == [
        {
            "issue_key": "SUP-42",
            "remote_link_id": str(link["id"]),
            "url": link["object"]["url"],
            "title": link["object"]["title"],
            "application_name": link["application"]["name"],
            "application_type": link["application"]["type"],
            "relationship": link["relationship"],
            "global_id": link.get("globalId"),
        }
        for link in src["_remote_links"]
    ]


# ---- field mapping -----------------------------------------------------------------------


def test_jsm_fields_found_by_schema_type_even_when_renamed():
    fields = field_list()
    for entry in fields:
        if entry["id"] == "customfield_10010":
            entry["name"] = "Kundenanfragetyp"
    resolved = resolve(fields)
    assert resolved.column_ids["request_type"] == "customfield_10010"
    assert resolved.sla_ids == {
        "first_response": "customfield_10034",
        "time_to_resolution": "customfield_10033",
    }
    assert resolved.column_ids["severity"] == "customfield_10100"


def test_two_sla_fields_without_matching_names_resolve_to_nothing():
    fields = [e for e in field_list() if e["id"] in ("customfield_10033", "customfield_10034")]
    fields[0]["name"], fields[1]["name"] = "Clock A", "Clock B"
    assert resolve(fields).sla_ids == {"first_response": None, "time_to_resolution": None}


def test_real_site_field_list_resolves_jsm_fields():
    """The same resolution works on a field list captured from a real site (in-project copy
    of its JSM entries: ids differ from our fixture's)."""
    fields = [
        {
            "id": "customfield_10033",
            "name": "Time to resolution",
            "schema": {
                "type": "sd-servicelevelagreement",
                "custom": "com.atlassian.servicedesk:sd-sla-field",
            },
        },
        {
            "id": "customfield_10034",
            "name": "Time to first response",
            "schema": {
                "type": "sd-servicelevelagreement",
                "custom": "com.atlassian.servicedesk:sd-sla-field",
            },
        },
        {
            "id": "customfield_10027",
            "name": "Satisfaction",
            "schema": {
                "type": "sd-feedback",
                "custom": "com.atlassian.servicedesk:sd-request-feedback",
            },
        },
        {
            "id": "customfield_10002",
            "name": "Organizations",
            "schema": {
                "type": "array",
                "custom": "com.atlassian.servicedesk:sd-customer-organizations",
            },
        },
    ]
    resolved = resolve(fields)
    assert resolved.column_ids["satisfaction"] == "customfield_10027"
    assert resolved.column_ids["organizations"] == "customfield_10002"
    assert resolved.column_ids["severity"] is None


def test_without_field_list_names_resolve_and_unmapped_fields_are_kept():
    issue = rich_issue()
    issue["names"] = {e["id"]: e["name"] for e in field_list()}
    row = only_issue_row(issue, None)
    assert row["severity"] == "S2 - Major" and row["request_type"] == "Report a bug"
    assert row["first_response_breached"] is True
    assert set(json.loads(row["custom_fields"])) == {
        "customfield_10000",
        "customfield_10016",
        "customfield_10019",
        "customfield_10110",
    }
    del issue["names"]
    bare = only_issue_row(issue, None)
    assert bare["severity"] is None and bare["request_type"] is None
    assert bare["first_response_breached"] is True  # the overlay is matched by name
    kept = json.loads(bare["custom_fields"])
    non_null = {
        k for k, v in issue["fields"].items() if k.startswith("customfield_") and v is not None
    }
    assert set(kept) == non_null
    assert kept["customfield_10100"] == issue["fields"]["customfield_10100"]


def test_mapping_file_drives_columns_and_readers(tmp_path: Path):
    mapping_file = tmp_path / "mapping.toml"
    mapping_file.write_text(
        '[columns.engineer]\nfield = "L3 engineer"\nkind = "user"\nuser_attr = "accountId"\n'
        '[columns.story_points]\nfield = "story point ESTIMATE"\nkind = "number"\n'
        "[columns.participant_emails]\ncustom_type = "
        '"com.atlassian.servicedesk:sd-request-participants"\nkind = "users"\n'
        'user_attr = "emailAddress"\n'
    )
    mapping = load_mapping(mapping_file)
    assert [f.name for f in mapping.schema_fields()] == [
        "engineer",
        "story_points",
        "participant_emails",
    ]
    assert mapping.schema_fields()[1].type == pa.float64()
    resolved = resolve(field_list(), mapping)
    assert resolved.column_ids == {
        "engineer": "customfield_10110",
        "story_points": "customfield_10016",
        "participant_emails": "customfield_10026",
    }
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns.x]\nfield = "X"\nkind = "blob"\n')
    with pytest.raises(ValueError, match="unknown kind"):
        load_mapping(bad)


def test_resolve_from_names_uses_names_only():
    resolved = resolve_from_names({"customfield_1": "Severity", "customfield_2": "Satisfaction"})
    assert resolved.column_ids["severity"] == "customfield_1"
    assert resolved.column_ids["satisfaction"] == "customfield_2"


# ---- SLA rules ---------------------------------------------------------------------------


def cycle(breached: bool, goal: int, elapsed: int) -> dict[str, Any]:
    return {
        "breached": breached,
        "goalDuration": {"millis": goal},
        "elapsedTime": {"millis": elapsed},
        "remainingTime": {"millis": goal - elapsed},
    }


def test_sla_ongoing_cycle_wins_else_last_completed_else_nulls():
    completed = [cycle(False, 100, 10), cycle(True, 100, 150)]
    assert sla_values({"completedCycles": completed, "ongoingCycle": cycle(False, 50, 5)}) == (
        False,
        50,
        5,
        45,
    )
    assert sla_values({"completedCycles": completed}) == (True, 100, 150, -50)
    assert sla_values({"completedCycles": []}) == (None, None, None, None)  # not started
    assert sla_values({"errorMessage": "SLA error", "ongoingCycle": cycle(True, 1, 2)}) == (
        None,
        None,
        None,
        None,
    )
    assert sla_values(None) == (None, None, None, None)


def test_sla_overlay_beats_field_and_missing_overlay_record_falls_back():
    issue = rich_issue()
    issue["_sla"] = [{"name": "time to resolution", "ongoingCycle": cycle(False, 9, 1)}]
    row = only_issue_row(issue, field_list())
    assert (row["time_to_resolution_goal_millis"], row["time_to_resolution_breached"]) == (9, False)
    assert row["first_response_breached"] is None  # field value: no cycles yet
    issue["_sla"] = [{"name": "Time to resolution", "errorMessage": "broken"}]
    assert only_issue_row(issue, field_list())["time_to_resolution_goal_millis"] is None


# ---- shared corpus -----------------------------------------------------------------------


def _shared_issues(name: str) -> list[dict[str, Any]]:
    document = load_shared_sample(name)
    return document["issues"] if name.startswith("openapi-search-jql") else [document]


@pytest.mark.parametrize(
    "name",
    [
        *shared_sample_params("real-issue-v3-"),
        *shared_sample_params("openapi-issue-get-example"),
        *shared_sample_params("openapi-search-jql-example"),
    ],
)
def test_shared_issue_samples_transform(name: str, data_root: DataRoot):
    real_fields = load_shared_sample("real-field-list-jsm-site.json")
    for issue in _shared_issues(name):
        tables = transform(issue, real_fields)
        (row,) = tables["issues"].to_pylist()
        assert row["issue_key"] == issue["key"]
        fields = issue["fields"]
        assert tables["attachments"].num_rows == len(fields.get("attachment") or [])
        comments = fields.get("comment")
        comment_list = comments["comments"] if isinstance(comments, dict) else comments or []
        assert tables["comments"].num_rows == len(comment_list)
        assert tables["issuelinks"].num_rows == len(fields.get("issuelinks") or [])
        for column, table in tables.items():
            assert table.schema.equals(SCHEMAS[column])
        if "created" in fields:  # the OpenAPI get-example has none: it cannot be filed
            write_raw(data_root, issue)
            summary = upsert_issues(data_root, [issue["key"]])
            assert summary.issues_written == 1
            assert read_table(data_root, "issues").column("issue_key").to_pylist() == [issue["key"]]
            upsert_issues(data_root, [])
            data_root.issue_file(issue["key"]).unlink()
            assert upsert_issues(data_root, [issue["key"]]).issues_removed == 1


def test_issue_without_jsm_values_keeps_its_site_fields_in_custom_fields():
    """A software-project issue: no JSM values (null JSM/SLA columns), and a custom field
    the mapping does not know is kept in custom_fields."""
    system_only = [e for e in field_list() if not e["id"].startswith("customfield_")]
    issue = rich_issue()
    issue["fields"] = {k: v for k, v in issue["fields"].items() if not k.startswith("customfield_")}
    issue["fields"]["customfield_10050"] = "http://www.atlassian.com"
    issue.pop("_sla")
    row = only_issue_row(issue, system_only)
    assert row["request_type"] is None and row["first_response_breached"] is None
    assert json.loads(row["custom_fields"]) == {"customfield_10050": "http://www.atlassian.com"}


# ---- hostile data ------------------------------------------------------------------------


def test_nulls_everywhere_transform():
    issue = rich_issue()
    nulled = {k: None for k in issue["fields"]}
    nulled["created"] = "2024-01-01T00:00:00.000+0000"
    for variant in (
        {"key": "SUP-1", "fields": nulled},
        {"key": "SUP-1", "fields": None, "changelog": None, "_remote_links": None, "_sla": None},
        {"key": "SUP-1", "id": None, "self": None},
        {
            "key": "SUP-1",
            "fields": {
                "comment": {"comments": [None, {"id": None}, {}]},
                "attachment": [None, {"id": {"x": 1}}, {"id": "5"}],
                "issuelinks": [None, {"id": "1"}],
                "labels": [None, 1, "ok"],
                "status": "Open",
                "statusCategory": [],
                "components": "x",
                "creator": "someone",
                "created": 12345,
                "updated": "not a date",
                "duedate": "2024-02-30",
            },
            "changelog": {"histories": [None, {"id": "1", "items": [None, {"from": 5}]}]},
            "_remote_links": [None, {"id": 1, "object": None}],
            "_sla": "oops",
        },
    ):
        tables = transform(variant, field_list())
        (row,) = tables["issues"].to_pylist()
        assert row["issue_key"] == "SUP-1"
    assert tables["attachments"].column("attachment_id").to_pylist() == ["5"]
    assert tables["changelog"].column("from_id").to_pylist() == [None, "5"]
    assert row["labels"] == ["ok"] and row["status"] is None and row["due_date"] is None


def test_duplicate_child_ids_are_kept_once():
    issue = rich_issue()
    comments = issue["fields"]["comment"]["comments"]
    comments.append(dict(comments[0], body="duplicate"))
    issue["fields"]["issuelinks"].append(issue["fields"]["issuelinks"][0])
    tables = transform(issue, field_list())
    assert tables["comments"].num_rows == 3 and tables["issuelinks"].num_rows == 2


def test_huge_fields_and_odd_unicode_round_trip(data_root: DataRoot):
    issue = rich_issue()
    odd = "nul\x00 rtl\u202e emoji\U0001f600 comb e\u0301 bom\ufeff nbsp\xa0 zw\u200b 𝔘𝔫𝔦"
    issue["fields"]["summary"] = odd
    issue["fields"]["description"] = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": f"para {i} " + "x" * 80}]}
            for i in range(30_000)
        ],
    }
    issue["fields"]["customfield_10019"] = "r" * 3_000_000
    issue["fields"]["labels"] = [f"l{i}" for i in range(5_000)]
    issue["fields"]["attachment"][0]["filename"] = "../../etc/passwd\u202egnp.exe"
    write_field_list(data_root)
    write_raw(data_root, issue)
    upsert_issues(data_root, ["SUP-42"])
    (row,) = read_table(data_root, "issues").to_pylist()
    assert row["summary"] == odd
    assert len(row["description"]) > 30_000 * 80 and len(row["labels"]) == 5_000
    assert json.loads(row["custom_fields"])["customfield_10019"] == "r" * 3_000_000
    names = read_table(data_root, "attachments").column("filename").to_pylist()
    assert names[0] == "../../etc/passwd\u202egnp.exe"
    assert not list(data_root.root.parent.glob("etc"))  # a file name is data, never a path


def test_lone_surrogates_and_deep_nesting_in_raw_files(data_root: DataRoot):
    write_field_list(data_root)
    issue = rich_issue()
    issue["fields"]["summary"] = "before\ud800after"
    deep: Any = "bottom"
    for _ in range(350):  # 700 levels: deeper than orjson writes (255), within what it reads
        deep = {"type": "blockquote", "content": [deep]}
    issue["fields"]["customfield_10019"] = deep
    issue["fields"]["description"] = {"type": "doc", "content": [deep]}
    body = json.dumps(issue).encode()  # stdlib: escapes the lone surrogate as \ud800
    atomic_write_bytes(data_root.issue_file("SUP-42"), body)
    upsert_issues(data_root, ["SUP-42"])
    (row,) = read_table(data_root, "issues").to_pylist()
    assert row["summary"] == "before?after"
    assert "bottom" in row["custom_fields"] and row["description"] == ""

    too_deep: Any = 1
    for _ in range(100_000):
        too_deep = [too_deep]
    issue = rich_issue()
    issue["key"] = "SUP-43"
    issue["fields"]["customfield_10019"] = "PLACEHOLDER"
    text = json.dumps(issue).replace('"PLACEHOLDER"', "[" * 100_000 + "]" * 100_000)
    atomic_write_bytes(data_root.issue_file("SUP-43"), text.encode())
    summary = upsert_issues(data_root, ["SUP-43"])
    assert summary.issues_skipped == ["SUP-43"] and summary.issues_written == 0


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True),
        st.text(max_size=10),
    ),
    lambda c: st.one_of(
        st.lists(c, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "name",
                    "value",
                    "key",
                    "accountId",
                    "displayName",
                    "emailAddress",
                    "comments",
                    "total",
                    "type",
                    "content",
                    "text",
                    "ongoingCycle",
                    "completedCycles",
                    "rating",
                    "histories",
                    "items",
                    "outwardIssue",
                    "inwardIssue",
                    "fields",
                    "object",
                    "url",
                ]
            ),
            c,
            max_size=4,
        ),
    ),
    max_leaves=15,
)
field_names = st.sampled_from(
    [
        "summary",
        "description",
        "status",
        "priority",
        "labels",
        "components",
        "fixVersions",
        "attachment",
        "comment",
        "issuelinks",
        "created",
        "updated",
        "duedate",
        "creator",
        "customfield_10002",
        "customfield_10010",
        "customfield_10026",
        "customfield_10027",
        "customfield_10033",
        "customfield_10100",
        "customfield_10102",
        "customfield_10103",
        "customfield_10104",
        "customfield_10999",
    ]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(field_names, json_values, max_size=8), json_values, json_values)
def test_random_field_values_never_crash(fields: dict, changelog: Any, sla: Any):
    issue = {
        "key": "SUP-9",
        "id": 9,
        "fields": fields,
        "changelog": changelog,
        "_sla": sla,
        "_remote_links": changelog,
    }
    tables = transform(issue, field_list())
    assert tables["issues"].num_rows == 1
