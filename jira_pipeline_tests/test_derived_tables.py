"""The derived tables (status_intervals, issue_metrics): any life of an issue gives stays
that tile [created, now) and metrics equal to a plain reference computation; the upsert
and the rebuild give the same files; the month checks hold and catch a broken file."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from jira_pipeline.orchestration.table_checks import metrics_row_differences, untiled_issues
from jira_pipeline.storage import DataRoot
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline.transform.rows import RawIssue, add_issue_rows, empty_rows, to_tables
from jira_pipeline.transform.schemas import DERIVED_TABLES
from jira_pipeline.transform.upsert import upsert_issues
from jira_pipeline.transform.views import read_table
from jira_pipeline_tests.fixtures.transform_data import variant, write_field_list, write_raw

CREATED = datetime(2024, 3, 10, 9, 0, tzinfo=UTC)
FETCHED = CREATED + timedelta(days=400)
# name → (id, category); names Jira uses by default, so the changelog's names suffice
STATUSES = {"To Do": ("1", "To Do"), "Waiting for support": ("2", "To Do"),
            "In Progress": ("3", "In Progress"), "Waiting for customer": ("4", "In Progress"),
            "Resolved": ("5", "Done"), "Closed": ("6", "Done")}
PEOPLE = ["reporter", "agent-a", "agent-b", "agent-c"]

events = st.lists(
    st.tuples(
        st.integers(0, 3 * 86_400),  # seconds after the previous event (0: same instant)
        st.one_of(
            st.tuples(st.just("status"), st.sampled_from(sorted(STATUSES))),
            st.tuples(st.just("assign"), st.sampled_from([None, *PEOPLE[1:]])),
            st.tuples(st.just("comment"), st.sampled_from(PEOPLE), st.booleans()),
        ),
    ),
    max_size=25,
)


def _jira_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _user(name: str | None) -> dict | None:
    return None if name is None else {"accountId": f"id-{name}", "displayName": name}


def build_issue(initial: str, assignee: str | None,
                steps: list[tuple[int, tuple]]) -> tuple[dict, dict]:
    """A raw issue living through ``steps``, and the reference figures computed directly
    from the steps (not from the JSON)."""
    status, now, histories, comments = initial, CREATED, [], []
    resolved_at: datetime | None = STATUSES[initial][1] == "Done" and CREATED or None
    stays = [(initial, CREATED, assignee)]
    assigned = [CREATED] if assignee else []
    people = {assignee} if assignee else set()
    resolutions = [CREATED] if resolved_at else []
    for number, (delta, step) in enumerate(steps, start=1):
        now += timedelta(seconds=delta)
        items = []
        if step[0] == "status" and step[1] != status:
            new = step[1]
            items.append({"field": "status", "fieldId": "status", "fromString": status,
                          "from": STATUSES[status][0], "toString": new, "to": STATUSES[new][0]})
            was_done, is_done = STATUSES[status][1] == "Done", STATUSES[new][1] == "Done"
            if is_done and not was_done:
                items.append({"field": "resolution", "fieldId": "resolution", "from": None,
                              "to": "10000", "toString": "Done"})
                resolved_at = now
                resolutions.append(now)
            elif was_done and not is_done:
                items.append({"field": "resolution", "fieldId": "resolution", "from": "10000",
                              "fromString": "Done", "to": None})
                resolved_at = None
            status = new
            stays.append((new, now, assignee))
        elif step[0] == "assign" and step[1] != assignee:
            items.append({"field": "assignee", "fieldId": "assignee",
                          "from": assignee and f"id-{assignee}", "fromString": assignee,
                          "to": step[1] and f"id-{step[1]}", "toString": step[1]})
            assignee = step[1]
            if assignee:
                assigned.append(now)
                people.add(assignee)
        elif step[0] == "comment":
            comments.append({"id": str(number), "author": _user(step[1]), "body": "x",
                             "created": _jira_time(now), "jsdPublic": step[2]})
        if items:
            histories.append({"id": str(number), "created": _jira_time(now),
                              "author": _user("agent-a"), "items": items})
    issue = {
        "key": "SUP-1", "id": "1",
        "fields": {
            "created": _jira_time(CREATED),
            "status": {"name": status, "id": STATUSES[status][0],
                       "statusCategory": {"name": STATUSES[status][1]}},
            "assignee": _user(assignee), "reporter": _user("reporter"),
            "creator": _user("reporter"),
            "resolution": {"name": "Done"} if resolved_at else None,
            "resolutiondate": _jira_time(resolved_at) if resolved_at else None,
            "comment": {"comments": comments, "total": len(comments)},
        },
        "changelog": {"histories": histories[::-1]},  # order in the file does not matter
        "_fetched_at": _jira_time(FETCHED),
    }
    per_category = {"To Do": 0, "In Progress": 0, "Done": 0}
    reopens, done_before = 0, False
    for index, (name, entered, _) in enumerate(stays):
        left = stays[index + 1][1] if index + 1 < len(stays) else FETCHED
        per_category[STATUSES[name][1]] += int((left - entered).total_seconds())
        reopened = done_before and STATUSES[name][1] != "Done"
        reopens += reopened
        done_before |= STATUSES[name][1] == "Done"
    responses = [c["created"] for c in comments
                 if c["jsdPublic"] and c["author"]["displayName"] != "reporter"]
    expected = {
        "stays": [(name, entered, f"id-{who}" if who else None) for name, entered, who in stays],
        "reopen_count": reopens,
        "first_response_at": min(responses) if responses else None,
        "first_assigned_at": assigned[0] if assigned else None,
        "last_assigned_at": assigned[-1] if assigned else None,
        "assignee_count": len(people),
        "first_resolved_at": resolutions[0] if resolutions else None,
        "last_resolved_at": resolutions[-1] if resolutions else None,
        "open_duration_seconds": int(((resolved_at or FETCHED) - CREATED).total_seconds()),
        "to_do_seconds": per_category["To Do"],
        "in_progress_seconds": per_category["In Progress"],
        "done_seconds": per_category["Done"],
        "public_comment_count": sum(1 for c in comments if c["jsdPublic"]),
        "internal_comment_count": sum(1 for c in comments if not c["jsdPublic"]),
    }
    return issue, expected


def derived_tables(issue: dict) -> dict[str, pa.Table]:
    rows = empty_rows()
    add_issue_rows(rows, RawIssue(issue["key"], issue, "raw/jira/issues/SUP-1.json", 0, 0), None)
    return to_tables(rows)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["To Do", "Waiting for support", "In Progress"]),
       st.sampled_from([None, *PEOPLE[1:]]), events)
def test_stays_tile_the_life_and_metrics_match_a_reference(initial, assignee, steps):
    issue, expected = build_issue(initial, assignee, steps)
    tables = derived_tables(issue)
    stays = tables["status_intervals"].to_pylist()

    assert [(s["status"], s["entered_at"], s["assignee_account_id"]) for s in stays] == \
        expected["stays"]
    assert stays[0]["entered_at"] == CREATED and stays[-1]["left_at"] is None
    for stay, following in zip(stays, stays[1:], strict=False):  # no gap, no overlap
        assert stay["left_at"] == following["entered_at"]
        assert stay["duration_seconds"] == (stay["left_at"] - stay["entered_at"]).total_seconds()
    assert [s["stay_index"] for s in stays] == list(range(len(stays)))
    assert [s["status_category"] for s in stays] == [STATUSES[s["status"]][1] for s in stays]

    (metrics,) = tables["issue_metrics"].to_pylist()
    got = {name: metrics[name] for name in expected if name != "stays"}
    if got["first_response_at"] is not None:
        got["first_response_at"] = _jira_time(got["first_response_at"])
    assert got == {name: value for name, value in expected.items() if name != "stays"}
    assert metrics["as_of"] == FETCHED
    assert sum(s["is_reopen"] for s in stays) == metrics["reopen_count"]


def test_sla_outcomes_come_from_the_overlay_cycle():
    issue = variant("SUP-7", "2024-03-01T10:00:00.000+0000")
    goal = {"millis": 14_400_000}
    issue["_sla"] = [
        {"name": "Time to first response",
         "completedCycles": [{"breached": False, "goalDuration": goal,
                              "elapsedTime": {"millis": 420_000}}]},
        {"name": "Time to resolution",
         "ongoingCycle": {"breached": False, "goalDuration": goal,
                          "elapsedTime": {"millis": 3_600_000}}},
    ]
    (metrics,) = derived_tables(issue)["issue_metrics"].to_pylist()
    assert (metrics["first_response_outcome"], metrics["first_response_goal_seconds"],
            metrics["first_response_elapsed_seconds"]) == ("met", 14_400, 420)
    assert (metrics["time_to_resolution_outcome"],
            metrics["time_to_resolution_elapsed_seconds"]) == ("running", 3_600)
    issue["_sla"][1]["ongoingCycle"]["breached"] = True
    (metrics,) = derived_tables(issue)["issue_metrics"].to_pylist()
    assert metrics["time_to_resolution_outcome"] == "breached"


def _store(root: DataRoot) -> list[str]:
    write_field_list(root)
    keys = []
    for number, created in enumerate(["2024-01-15T10:00:00.000+0000",
                                      "2024-01-20T10:00:00.000+0000",
                                      "2024-02-03T08:00:00.000+0530"], start=1):
        issue = variant(f"SUP-{number}", created, comments=number)
        write_raw(root, issue)
        keys.append(issue["key"])
    return keys


def test_upsert_one_by_one_equals_rebuild_and_checks_pass(tmp_path: Path):
    upserted, rebuilt = DataRoot(tmp_path / "a"), DataRoot(tmp_path / "b")
    for key in _store(upserted):
        upsert_issues(upserted, [key])
    _store(rebuilt)
    rebuild_all(rebuilt, progress=False)
    for table in DERIVED_TABLES:
        assert read_table(upserted, table).num_rows > 0
        assert read_table(upserted, table).equals(read_table(rebuilt, table)), table
    for month in ("2024-01", "2024-02"):
        assert untiled_issues(upserted, month) == []
        assert not any(metrics_row_differences(upserted, month).values())


def test_checks_catch_a_broken_interval_file_and_a_missing_metrics_row():
    with tempfile.TemporaryDirectory() as tmp:
        root = DataRoot(Path(tmp))
        _store(root)
        rebuild_all(root, progress=False)
        path = root.month_file("status_intervals", "2024-01")
        intervals = pq.read_table(path)
        pq.write_table(intervals.slice(1), path)  # SUP-1 loses its first stay
        assert untiled_issues(root, "2024-01") == ["SUP-1"]
        metrics_path = root.month_file("issue_metrics", "2024-01")
        pq.write_table(pq.read_table(metrics_path).slice(1), metrics_path)
        assert metrics_row_differences(root, "2024-01") == {
            "issues_without_one_row": ["SUP-1"], "rows_of_no_issue": []}
