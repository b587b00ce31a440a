"""The simulated site's data: deterministic per seed, realistic where the pipeline cares
(offsets, months, ADF, paging, links, attachments, JSM), and mutable through mutations."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from jira_pipeline.core.dates import month_of, parse_jira_datetime
from jira_pipeline.sandbox.simulator import JqlError, SimulatedJira
from jira_pipeline.sandbox.simulator.jql import parse_jql
from jira_pipeline_tests.fixtures.simulator import live_keys

EXPAND = {"renderedFields", "changelog"}


@pytest.fixture(scope="module")
def site() -> SimulatedJira:
    return SimulatedJira(seed=7, issues=240)


@pytest.fixture(scope="module")
def issues(site: SimulatedJira) -> list[dict]:
    return [site.issue_json(key, expand=EXPAND) for key in live_keys(site)]


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_same_seed_gives_byte_identical_json_and_another_seed_differs() -> None:
    def dump(site: SimulatedJira) -> bytes:
        return (
            b"".join(site.issue_bytes(k, expand=EXPAND) for k in live_keys(site))
            + orjson.dumps([site.changelog_page(k, 0, 100) for k in live_keys(site)])
            + orjson.dumps([site.sla_page(k) for k in live_keys(site)])
        )

    first = dump(SimulatedJira(seed=3, issues=50))
    assert first == dump(SimulatedJira(seed=3, issues=50))
    assert first != dump(SimulatedJira(seed=4, issues=50))


def test_created_spreads_over_24_months_with_mixed_offsets(issues: list[dict]) -> None:
    created = [i["fields"]["created"] for i in issues]
    months = {month_of(c) for c in created}
    assert len(months) >= 24
    offsets = Counter(c[-5:] for c in created)
    assert {"+0100", "-0500", "+0530", "+0000"} <= set(offsets)
    # Some issues sit in another month locally than in UTC (the partition key is UTC).
    assert any(c[:7] != month_of(c) for c in created)


def test_issue_carries_the_rich_content_a_real_service_desk_has(issues: list[dict]) -> None:
    node_types = {n.get("type") for i in issues for n in _walk(i["fields"]["description"])}
    assert {
        "mention",
        "inlineCard",
        "codeBlock",
        "table",
        "panel",
        "bulletList",
        "orderedList",
        "mediaSingle",
        "emoji",
        "hardBreak",
        "heading",
    } <= node_types
    comments = [c for i in issues for c in i["fields"]["comment"]["comments"]]
    assert {c["jsdPublic"] for c in comments} == {True, False}
    assert any("visibility" in c for c in comments)
    assert all(
        i["renderedFields"]["description"] is None
        or i["renderedFields"]["description"].startswith("<")
        for i in issues
    )
    statuses = {i["fields"]["status"]["statusCategory"]["name"] for i in issues}
    assert statuses == {"To Do", "In Progress", "Done"}
    for issue in issues:
        done = issue["fields"]["status"]["statusCategory"]["key"] == "done"
        assert (issue["fields"]["resolution"] is not None) == done
        assert (issue["fields"]["resolutiondate"] is not None) == done
    assert any(i["fields"].get("parent") for i in issues)
    assert any(i["fields"]["subtasks"] for i in issues)


def test_changelog_exceeds_the_inline_page_for_some_issues(
    site: SimulatedJira, issues: list[dict]
) -> None:
    big = [i for i in issues if i["changelog"]["total"] > 100]
    assert big and len(big) < len(issues) / 10
    issue = big[0]
    assert len(issue["changelog"]["histories"]) == issue["changelog"]["maxResults"] == 100
    pages, start = [], 0
    while True:
        page = site.changelog_page(issue["key"], start, 100)
        pages += page["values"]
        if page["isLast"]:
            break
        start += len(page["values"])
    assert len(pages) == issue["changelog"]["total"]
    assert len({h["id"] for h in pages}) == len(pages)
    assert pages[:100] == issue["changelog"]["histories"]


def test_issue_links_are_consistent_on_both_sides(site: SimulatedJira, issues: list[dict]) -> None:
    by_id = {i["id"]: i for i in issues}
    seen = 0
    for issue in issues:
        for link in issue["fields"]["issuelinks"]:
            side, other_side = (
                ("outwardIssue", "inwardIssue")
                if "outwardIssue" in link
                else ("inwardIssue", "outwardIssue")
            )
            other = by_id[link[side]["id"]]
            mirror = [entry for entry in other["fields"]["issuelinks"] if entry["id"] == link["id"]]
            assert len(mirror) == 1 and mirror[0][other_side]["id"] == issue["id"]
            seen += 1
    assert seen > 20


def test_attachments_include_hostile_names_and_oversized_declarations(
    site: SimulatedJira, issues: list[dict]
) -> None:
    attachments = [a for i in issues for a in i["fields"]["attachment"]]
    names = {a["filename"] for a in attachments}
    assert any(".." in n or "/" in n for n in names)
    assert any(any(ord(ch) < 32 for ch in n) or len(n) > 200 or not n.isascii() for n in names)
    assert any(a["size"] > 50 * 1024 * 1024 for a in attachments)
    small = next(a for a in attachments if a["size"] < 100_000)
    data = site.attachment_bytes(small["id"])
    assert len(data) == small["size"] and data == site.attachment_bytes(small["id"])
    assert small["content"].endswith(f"/rest/api/3/attachment/content/{small['id']}")


def test_custom_fields_resolve_through_the_field_list(
    site: SimulatedJira, issues: list[dict]
) -> None:
    names = {f["id"]: f["name"] for f in site.fields()}
    used = {k for i in issues for k in i["fields"] if k.startswith("customfield_")}
    assert used <= set(names)
    for wanted in (
        "Severity",
        "Triage",
        "Configuration item",
        "Spam",
        "Context",
        "Custom URL",
        "Slack link",
        "Technical issue category",
        "Email address",
        "L3 team",
        "Request Type",
        "Organizations",
        "Request participants",
        "Satisfaction",
        "Time to first response",
        "Time to resolution",
    ):
        field_id = next(k for k, v in names.items() if v == wanted)
        values = [i["fields"].get(field_id) for i in issues]
        assert any(v is not None for v in values), wanted
        if wanted not in ("Request Type",):
            assert any(v is None for v in values), f"{wanted} is never null"
    assert names["customfield_10010"] == "Request Type"
    assert names["customfield_10002"] == "Organizations"


def test_sla_pages_cover_ongoing_completed_breached_and_absent(site: SimulatedJira) -> None:
    pages = {k: site.sla_page(k) for k in live_keys(site)}
    assert any(p is None for p in pages.values())  # not a service request
    assert any(p is not None and p["values"] == [] for p in pages.values())
    metrics = [m for p in pages.values() if p for m in p["values"]]
    assert any("ongoingCycle" in m for m in metrics)
    cycles = [c for m in metrics for c in m["completedCycles"]]
    assert any(c["breached"] for c in cycles) and any(not c["breached"] for c in cycles)
    assert any(c["remainingTime"]["millis"] < 0 for c in cycles)
    paged = site.sla_page(next(k for k, p in pages.items() if p and len(p["values"]) == 2), 0, 1)
    assert paged["size"] == 1 and not paged["isLastPage"] and "next" in paged["_links"]


def test_fields_parameter_and_unknown_key(site: SimulatedJira) -> None:
    key = site.keys()[0]
    only = site.issue_json(key, fields="summary,status")
    assert set(only["fields"]) == {"summary", "status"}
    assert "comment" not in site.issue_json(key, fields=["*all", "-comment"])["fields"]
    assert site.issue_json("SUPPORT-99999") is None and site.issue_json("NOPE-1") is None
    assert site.issue_json(key.lower())["key"] == key
    assert site.issue_json(site.issue_json(key)["id"])["key"] == key


@pytest.mark.parametrize(
    "jql",
    [
        "project = SUPPORT OR project = ENG",
        "status = Done",
        "project != SUPPORT",
        "created >= startOfMonth()",
        "(project = SUPPORT)",
        "project = NOPE",
        "created >= 2024-13-01",
        "key in (SUPPORT-1",
        "ORDER BY priority",
        "summary ~ login",
        "NOT project = SUPPORT",
        "created in (2024-01-01)",
        "project = SUPPORT AND",
    ],
)
def test_unsupported_or_invalid_jql_is_an_error(site: SimulatedJira, jql: str) -> None:
    with pytest.raises(JqlError):
        site.search(jql)


def test_jql_dates_are_utc_and_accept_jira_formats() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    query = parse_jql(
        'created >= "2024-03-01 10:30" AND updated < 2024/04/02 AND '
        "created > -2d ORDER BY updated DESC, key",
        now,
    )
    bounds = [c.instant_ms for c in query.conditions]
    assert bounds[0] == int(datetime(2024, 3, 1, 10, 30, tzinfo=UTC).timestamp() * 1000)
    assert bounds[1] == int(datetime(2024, 4, 2, tzinfo=UTC).timestamp() * 1000)
    assert bounds[2] == int(datetime(2025, 5, 30, tzinfo=UTC).timestamp() * 1000)
    assert query.order == (("updated", True), ("key", False))


def test_date_filters_match_utc_instants(site: SimulatedJira) -> None:
    result = site.search(
        'created >= "2024-06-01" AND created < "2024-07-01"', fields=["created"], max_results=100
    )
    assert result["isLast"]
    expected = {
        k
        for k in live_keys(site)
        if month_of(site.issue_json(k, fields="created")["fields"]["created"]) == "2024-06"
    }
    assert {i["key"] for i in result["issues"]} == expected and expected


def test_mutations_are_reflected_in_reads_and_seeded() -> None:
    site = SimulatedJira(seed=1, issues=40)
    rng = random.Random(5)
    mutations = [site.mutate(rng) for _ in range(60)]
    events = Counter(m.event for m in mutations)
    assert {
        "jira:issue_created",
        "jira:issue_updated",
        "comment_created",
        "issuelink_created",
    } <= set(events)
    for mutation in mutations:
        if mutation.event == "jira:issue_deleted":
            assert site.issue_json(mutation.issue_key) is None
        elif mutation.event == "comment_created" and site.is_alive(mutation.issue_key):
            comment_id = mutation.body["comment"]["id"]
            comments = site.issue_json(mutation.issue_key)["fields"]["comment"]["comments"]
            deleted_later = any(
                m.event == "comment_deleted" and m.body["comment"]["id"] == comment_id
                for m in mutations
            )
            assert deleted_later or any(c["id"] == comment_id for c in comments)
    created = [m.issue_key for m in mutations if m.event == "jira:issue_created"]
    generated = set(live_keys(SimulatedJira(seed=1, issues=40)))
    assert created and not generated & set(created)
    assert any(site.issue_json(k) is not None for k in created)
    assert all(site.issue_json(k) is None or site.issue_json(k)["key"] == k for k in created)
    assert site.snapshot()["version"] >= 60
    again = SimulatedJira(seed=1, issues=40)
    rng = random.Random(5)
    assert [again.mutate(rng).event for _ in range(60)] == [m.event for m in mutations]


def test_explicit_helpers_resolve_update_delete() -> None:
    site = SimulatedJira(seed=2, issues=30)
    open_key = next(
        k for k in live_keys(site) if site.issue_json(k)["fields"]["resolution"] is None
    )
    before = parse_jira_datetime(site.issue_json(open_key)["fields"]["updated"])
    mutation = site.resolve_issue(open_key)
    fields = site.issue_json(open_key, expand={"changelog"})["fields"]
    assert mutation.event == "jira:issue_updated" and mutation.issue_key == open_key
    assert fields["resolution"]["name"] == "Done" and fields["resolutiondate"]
    assert fields["status"]["statusCategory"]["key"] == "done"
    assert parse_jira_datetime(fields["updated"]) > before
    site.update_issue(open_key, summary="Renamed", customfield_10100="S1 - Critical")
    fields = site.issue_json(open_key)["fields"]
    assert (
        fields["summary"] == "Renamed" and fields["customfield_10100"]["value"] == "S1 - Critical"
    )
    issue_id = site.issue_json(open_key)["id"]
    assert site.delete_issue(open_key).body["issue"]["key"] == open_key
    assert site.issue_json(open_key) is None and open_key not in live_keys(site)
    assert site.issue_id_to_key(issue_id) == open_key
    with pytest.raises(KeyError):
        site.resolve_issue(open_key)
