"""The simulated Jira site as the chaos cases use it: clients pointed at the server, and
the comparison the cases end with: what the Parquet tables say about each issue against
what the simulator serves now. (The baseline mirror is ``fixtures.mirror.mirror``.)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jira_pipeline.config import load_settings
from jira_pipeline.core.dates import parse_jira_datetime
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.sandbox.simulator import Mutation, SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.auth_state import auth_recorder
from jira_pipeline_tests.chaos.snapshots import table_rows
from jira_pipeline_tests.fixtures.mirror import SCOPE

# (summary, updated in epoch ms, status, comment ids, attachment ids, issue-link ids)
IssueState = tuple[str, int, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def site_env(server: SimulatorServer, root: DataRoot) -> dict[str, str]:
    """The environment a pipeline process needs to work against ``server`` on ``root``."""
    return {
        **server.env(),
        "JIRA_DATA_ROOT": str(root.root),
        "JIRA_JQL": SCOPE,
        "JIRA_RATE_LIMIT_PER_S": "0",
    }


def clients(env: dict[str, str], root: DataRoot) -> tuple[JiraClient, JsmSlaClient | None]:
    settings = load_settings(env)
    return JiraClient.from_settings(settings, on_auth=auth_recorder(root)), JsmSlaClient.from_settings(settings, on_auth=auth_recorder(root))


def mutation_keys(site: SimulatedJira, mutations: Iterable[Mutation]) -> set[str]:
    """The issue keys a batch of mutations touched (issue links name issues by id)."""
    keys = set()
    for mutation in mutations:
        if mutation.issue_key:
            keys.add(mutation.issue_key)
        for issue_id in mutation.linked_issue_ids or ():
            key = site.issue_id_to_key(issue_id)
            if key:
                keys.add(key)
    return keys


def _ids(items: Any) -> tuple[str, ...]:
    return tuple(sorted(str(item["id"]) for item in items or ()))


def _epoch_ms(text: str | None) -> int:
    moment = parse_jira_datetime(text)
    assert moment is not None, text
    return int(moment.timestamp() * 1000)


def simulator_state(site: SimulatedJira) -> dict[str, IssueState]:
    """Every live issue as the simulator serves it now."""
    state = {}
    live = site.keys()  # a SimulatedJira method, not a dict view
    for key in live:
        fields = site.issue_json(key)["fields"]
        state[key] = (
            fields["summary"],
            _epoch_ms(fields["updated"]),
            fields["status"]["name"],
            _ids((fields.get("comment") or {}).get("comments")),
            _ids(fields.get("attachment")),
            _ids(fields.get("issuelinks")),
        )
    return state


def table_state(root: DataRoot) -> dict[str, IssueState]:
    """Every issue as the Parquet tables show it (read through DuckDB). Duplicated rows
    would surface as a mismatch (tuples of ids keep duplicates)."""
    children: dict[str, dict[str, list[str]]] = {}
    for table, column in (
        ("comments", "comment_id"),
        ("attachments", "attachment_id"),
        ("issuelinks", "link_id"),
    ):
        for key, child in table_rows(root, table, f"issue_key, {column}"):
            children.setdefault(table, {}).setdefault(key, []).append(str(child))
    state = {}
    rows = table_rows(root, "issues", "issue_key, summary, epoch_ms(updated_at), status")
    for key, summary, updated_ms, status in rows:
        assert key not in state, f"issue {key} has two rows in the issues table"
        state[key] = (
            summary,
            updated_ms,
            status,
            *(
                tuple(sorted(children.get(t, {}).get(key, ())))
                for t in ("comments", "attachments", "issuelinks")
            ),
        )
    return state


def visible_changes(
    site: SimulatedJira,
    mutations: Iterable[Mutation],
    expected: dict[str, IssueState],
    actual: dict[str, IssueState],
) -> int:
    """How many mutations the tables reflect: every issue a mutation touched looks in the
    tables exactly as the simulator serves it (a deleted one is absent from both)."""
    return sum(
        1
        for mutation in mutations
        if all(expected.get(k) == actual.get(k) for k in mutation_keys(site, [mutation]))
    )


def differences(expected: dict[str, IssueState], actual: dict[str, IssueState]) -> list[str]:
    """Keys whose table state is not the simulator's (missing, extra, or different)."""
    return sorted(k for k in set(expected) | set(actual) if expected.get(k) != actual.get(k))


def explain(expected: dict[str, IssueState], actual: dict[str, IssueState], keys: list[str]) -> str:
    """The first differing issues, simulator vs tables, for an assertion message."""
    return "; ".join(f"{k}: jira={expected.get(k)} tables={actual.get(k)}" for k in keys[:3])
