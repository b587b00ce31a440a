"""Real Jira webhook bodies (../shared/jira-samples, when present) and the in-project
copies of the same shapes, signed and posted: each is queued under the right issue key,
or the issue-link ids when the event names no key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from jira_pipeline.storage.inbox import list_pending
from jira_pipeline_tests.fixtures.common import load_shared_sample, shared_sample_params
from jira_pipeline_tests.fixtures.receiver import ReceiverClient, json_files

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


def expected_target(sample: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """What Jira's documentation says a body names: ``issue.key``, else the link's ids."""
    if isinstance(sample.get("issue"), dict) and sample["issue"].get("key"):
        return sample["issue"]["key"], ()
    link = sample["issueLink"]
    return None, (str(link["sourceIssueId"]), str(link["destinationIssueId"]))


def assert_queued_as_jira_sent_it(client: ReceiverClient, sample: dict[str, Any]) -> None:
    response = client.post(sample, identifier=f"sample-{id(sample)}")
    assert response.status_code == 202, response.get_json()
    [(_, event)] = list_pending(client.data_root)
    assert (event.issue_key, event.issue_ids) == expected_target(sample)
    fields = (sample.get("issue") or {}).get("fields") or {}
    assert event.created == fields.get("created")
    [audit] = json_files(client.data_root.webhook_events_dir)
    assert orjson.loads(audit.read_bytes())["body"] == sample


@pytest.mark.shared
@pytest.mark.parametrize("name", shared_sample_params("webhook-"))
def test_shared_webhook_sample_is_accepted(receiver_client: ReceiverClient, name: str) -> None:
    assert_queued_as_jira_sent_it(receiver_client, load_shared_sample(name))


@pytest.mark.parametrize(
    ("name", "key", "ids", "created"),
    [
        ("issue-created.json", "SUPPORT-22", (), "2019-08-27T12:43:24.193-0700"),
        ("issue-updated-custom-field.json", "TES-14", (), "2019-07-17T17:59:42.002-0700"),
        ("issue-deleted.json", "IDT-19", (), "2019-06-30T22:13:46.091+0000"),
        ("comment-created.json", "SB-1", (), None),
        ("attachment-created.json", "BUG-15", (), None),
        ("issuelink-created.json", None, ("18074", "25877"), None),
        ("issuelink-deleted.json", None, ("10040", "10041"), None),
    ],
)
def test_in_project_webhook_shape_is_accepted(
    receiver_client: ReceiverClient,
    name: str,
    key: str | None,
    ids: tuple[str, ...],
    created: str | None,
) -> None:
    sample = json.loads((FIXTURES / name).read_text())
    assert_queued_as_jira_sent_it(receiver_client, sample)
    [(_, event)] = list_pending(receiver_client.data_root)
    assert (event.issue_key, event.issue_ids, event.created) == (key, ids, created)
