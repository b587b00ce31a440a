"""POST /webhooks/jira in-process: fail-closed configuration, signatures, body limits, issue
key validation, the stored pending event and audit copy, dedup, debug endpoint, errors."""

from __future__ import annotations

import errno
import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from jira_pipeline.jira.signature import sign_body
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.atomic import NewFile
from jira_pipeline.storage.inbox import (
    PendingEvent,
    archive_pending,
    list_pending,
    new_event_id,
    pending_summary,
)
from jira_pipeline_tests.fixtures.receiver import (
    TEST_SECRET,
    ReceiverClient,
    all_files,
    as_body,
    json_files,
    receiver_config,
)
from webhook_receiver import MAX_BODY_BYTES, create_app
from webhook_receiver.store import DeliveryStore

ISSUE_UPDATED = {"webhookEvent": "jira:issue_updated", "issue": {"key": "SUPPORT-1"}}


def only_pending(root: DataRoot) -> PendingEvent:
    [(_, event)] = list_pending(root)
    return event


# --- configuration and signature --------------------------------------------------------


@pytest.mark.parametrize("secret", ["", None])
def test_unconfigured_secret_answers_503_and_writes_nothing(data_root: DataRoot, secret) -> None:
    app = create_app(receiver_config(data_root, JIRA_WEBHOOK_SECRET=secret))
    body = as_body(ISSUE_UPDATED)
    response = app.test_client().post(
        "/webhooks/jira", data=body, headers={"X-Hub-Signature": sign_body("", body)}
    )
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "error": "webhook secret not configured"}
    assert all_files(data_root.root) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature": ""},
        {"X-Hub-Signature": "sha256="},
        {"X-Hub-Signature": sign_body("wrong-secret", as_body(ISSUE_UPDATED))},
        {"X-Hub-Signature": sign_body(TEST_SECRET, b"{}")},
        {"X-Hub-Signature": "sha1=" + sign_body(TEST_SECRET, as_body(ISSUE_UPDATED))[7:]},
        {"X-Hub-Signature": sign_body(TEST_SECRET, as_body(ISSUE_UPDATED))[:-1]},
        {"X-Hub-Signature": sign_body(TEST_SECRET, as_body(ISSUE_UPDATED)) + "00"},
        {"X-Hub-Signature": "sha256=" + "é" * 64},
    ],
    ids=[
        "missing",
        "empty",
        "prefix-only",
        "wrong-secret",
        "other-body",
        "sha1",
        "short",
        "long",
        "non-ascii",
    ],
)
def test_missing_or_wrong_signature_is_401_and_writes_nothing(
    receiver_client: ReceiverClient, headers: dict[str, str]
) -> None:
    response = receiver_client.post(ISSUE_UPDATED, signed=False, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "missing or invalid signature"
    assert all_files(receiver_client.data_root.root) == []


@pytest.mark.parametrize(
    "header_value",
    [
        lambda body: sign_body(TEST_SECRET, body),
        lambda body: sign_body(TEST_SECRET, body).removeprefix("sha256="),
        lambda body: sign_body(TEST_SECRET, body).upper().replace("SHA256=", "sha256="),
        lambda body: f"  {sign_body(TEST_SECRET, body)} ",
    ],
    ids=["prefixed", "bare-hex", "upper-hex", "padded"],
)
@pytest.mark.parametrize("header_name", ["X-Hub-Signature", "X-Hub-Signature-256"])
def test_signature_prefix_is_optional_and_both_headers_work(
    receiver_client: ReceiverClient, header_value, header_name: str
) -> None:
    body = as_body(ISSUE_UPDATED)
    response = receiver_client.post(body, signed=False, headers={header_name: header_value(body)})
    assert response.status_code == 202
    assert only_pending(receiver_client.data_root).issue_key == "SUPPORT-1"


# --- body shape --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid JSON"),
        (b'{"a": NaN}', "body is not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "body is not valid JSON"),
        (b'["SUPPORT-1"]', "body must be a JSON object"),
        (b'"SUPPORT-1"', "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b'{"issue": null, "issue_key": "SUPPORT-1"}', "'issue' must be an object"),
        (b'{"issue": "SUPPORT-1"}', "'issue' must be an object"),
        (b'{"issue": ["SUPPORT-1"]}', "'issue' must be an object"),
        (b'{"webhookEvent": "jira:issue_updated"}', "no issue key or issue ids in the delivery"),
        (b'{"issue": {"id": "10000"}}', "no issue key or issue ids in the delivery"),
        (b'{"issueLink": "10000"}', "'issueLink' must be an object"),
        (b'{"issueLink": {"id": 1}}', "no issue key or issue ids in the delivery"),
    ],
)
def test_malformed_bodies_are_400_never_500(
    receiver_client: ReceiverClient, body: bytes, error: str
) -> None:
    response = receiver_client.post(body)
    assert response.status_code == 400
    assert response.get_json() == {"status": "error", "error": error}
    assert all_files(receiver_client.data_root.root) == []


def test_body_over_one_mib_is_413(receiver_client: ReceiverClient) -> None:
    body = b'{"issue_key": "SUPPORT-1", "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = receiver_client.post(body)
    assert response.status_code == 413
    assert response.is_json and response.get_json()["status"] == "error"
    assert all_files(receiver_client.data_root.root) == []


def test_body_of_exactly_one_mib_is_read(receiver_client: ReceiverClient) -> None:
    head = b'{"issue_key": "SUPPORT-1", "pad": "'
    body = head + b"x" * (MAX_BODY_BYTES - len(head) - 2) + b'"}'
    assert len(body) == MAX_BODY_BYTES
    assert receiver_client.post(body).status_code == 202


# --- issue keys and ids ------------------------------------------------------------------

BAD_KEYS = [
    "../../etc/passwd",
    "/etc/passwd",
    "test-1",
    "Test-1",
    "_ABC-1",  # an underscore may follow the first letter, never lead
    "\u0410-1",  # Cyrillic А
    "TEST-\u0661\u0662",  # Arabic-Indic digits
    "TEST-\u09e7\u09e8",  # Bengali digits
    "TEST-\u0967\u0968",  # Devanagari digits
    "\uff34\uff25\uff33\uff34-1",  # fullwidth TEST
    "TEST-1\n",
    "TEST-1\r\n",
    "TEST-1\x00",
    "TEST-1.json",
    "A" * 33 + "-1",
    "TEST-" + "1" * 13,
    "%2e%2e%2fTEST-1",
    "TEST-1/../../x",
    "C:\\TEST-1",
    "",
    "TEST-",
    "-1",
    "1TEST-1",
    " TEST-1",
    "TEST--1",
    "TEST-1-2",
    123,
    True,
    ["TEST-1"],
    {"key": "TEST-1"},
]


@pytest.mark.parametrize("where", ["issue.key", "issue_key"])
@pytest.mark.parametrize("bad_key", BAD_KEYS, ids=[repr(k)[:40] for k in BAD_KEYS])
def test_invalid_issue_keys_are_400_with_nothing_written(
    receiver_client: ReceiverClient, bad_key: object, where: str
) -> None:
    payload = (
        {"webhookEvent": "jira:issue_updated", "issue": {"key": bad_key}}
        if where == "issue.key"
        else {"webhookEvent": "jira:issue_updated", "issue_key": bad_key}
    )
    response = receiver_client.post(payload, identifier="bad-key-delivery")
    assert response.status_code == 400
    assert response.get_json() == {"status": "error", "error": "invalid issue key"}
    assert all_files(receiver_client.data_root.root) == []


def test_issue_key_falls_back_to_top_level_issue_key(receiver_client: ReceiverClient) -> None:
    response = receiver_client.post({"webhookEvent": "custom", "issue_key": "OPS-77"})
    assert response.status_code == 202
    assert only_pending(receiver_client.data_root).issue_key == "OPS-77"


def test_issue_key_wins_over_the_fallback(receiver_client: ReceiverClient) -> None:
    receiver_client.post({"issue": {"key": "OPS-1"}, "issue_key": "OPS-2"})
    assert only_pending(receiver_client.data_root).issue_key == "OPS-1"


@pytest.mark.parametrize(
    ("link", "ids"),
    [
        ({"sourceIssueId": 18074, "destinationIssueId": 25877}, ("18074", "25877")),
        ({"sourceIssueId": "10040", "destinationIssueId": "10041"}, ("10040", "10041")),
        ({"sourceIssueId": "10040"}, ("10040",)),
        ({"sourceIssueId": 7, "destinationIssueId": 7}, ("7",)),
    ],
)
def test_issuelink_events_are_queued_by_issue_ids(
    receiver_client: ReceiverClient, link: dict, ids: tuple[str, ...]
) -> None:
    response = receiver_client.post({"webhookEvent": "issuelink_created", "issueLink": link})
    assert response.status_code == 202
    event = only_pending(receiver_client.data_root)
    assert (event.issue_key, event.issue_ids, event.event_type) == (None, ids, "issuelink_created")


@pytest.mark.parametrize(
    "bad_id", ["12a", "1" * 19, -5, 1.5, True, "\u0661\u0662", "10000\n", "", ["1"], {"id": 1}]
)
def test_invalid_issue_ids_are_400(receiver_client: ReceiverClient, bad_id: object) -> None:
    payload = {
        "webhookEvent": "issuelink_deleted",
        "issueLink": {"sourceIssueId": "10000", "destinationIssueId": bad_id},
    }
    response = receiver_client.post(payload)
    assert response.status_code == 400
    assert all_files(receiver_client.data_root.root) == []


# --- what is stored ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created", "stored"),
    [
        ("2021-05-08T07:04:25.376+0100", "2021-05-08T07:04:25.376+0100"),
        ("2024-02-29T12:00:00Z", "2024-02-29T12:00:00Z"),
        ("yesterday", None),
        ("2024-13-45T99:00:00.000+0000", None),
        ("2024-01-01T00:00:00.000+\u0661\u0662\u0660\u0660", None),
        (1700000000000, None),
        (None, None),
    ],
)
def test_created_is_stored_only_when_parseable(
    receiver_client: ReceiverClient, created: object, stored: str | None
) -> None:
    payload = {
        "webhookEvent": "jira:issue_created",
        "issue": {"key": "SUPPORT-9", "fields": {"created": created}},
    }
    assert receiver_client.post(payload).status_code == 202
    assert only_pending(receiver_client.data_root).created == stored


@pytest.mark.parametrize(
    ("event", "deleted"), [("jira:issue_deleted", True), ("jira:issue_updated", False)]
)
def test_deleted_flag_follows_webhook_event(
    receiver_client: ReceiverClient, event: str, deleted: bool
) -> None:
    receiver_client.post({"webhookEvent": event, "issue": {"key": "SUPPORT-3"}})
    assert only_pending(receiver_client.data_root).deleted is deleted


@pytest.mark.parametrize(
    ("webhook_event", "label"),
    [
        ("../../../etc/passwd", "_etc_passwd"),
        ("/absolute/path", "_absolute_path"),
        ("..", "_"),
        ("jira:issue_updated", "jira_issue_updated"),
        ("x" * 500, "x" * 64),
        ("événement\x00\n", "_v_nement_"),
        ("", "unknown"),
        (None, "unknown"),
        (["jira:issue_updated"], "unknown"),
    ],
)
def test_webhook_event_becomes_a_safe_label(
    receiver_client: ReceiverClient, webhook_event: object, label: str
) -> None:
    response = receiver_client.post({"webhookEvent": webhook_event, "issue_key": "SUPPORT-4"})
    assert response.status_code == 202
    root = receiver_client.data_root
    event = only_pending(root)
    assert event.event_type == label
    [audit] = json_files(root.webhook_events_dir)
    assert audit.parent == root.webhook_events_dir and label in audit.name
    files = all_files(root.root)
    assert {f.parent for f in files} == {root.webhook_events_dir, root.inbox_dir}


def test_accepted_delivery_writes_audit_and_pending_event(receiver_client: ReceiverClient) -> None:
    payload = {"webhookEvent": "jira:issue_updated", "issue": {"key": "SUPPORT-5"}, "n": 1}
    response = receiver_client.post(
        payload,
        identifier="abc-123",
        headers={
            "X-Atlassian-Webhook-Retry": "2",
            "X-Atlassian-Webhook-Flow": "Primary",
            "X-Other": "dropped",
        },
    )
    assert response.status_code == 202
    body = response.get_json()
    root = receiver_client.data_root
    event = only_pending(root)
    assert body == {"status": "accepted", "event_id": event.event_id}
    assert re.fullmatch(r"\d{8}T\d{12}Z_jira_issue_updated_[0-9a-f]{12}", event.event_id)
    [audit_path] = json_files(root.webhook_events_dir)
    assert event.audit_file == audit_path.relative_to(root.root).as_posix()
    audit = orjson.loads(audit_path.read_bytes())
    assert audit["body"] == payload
    assert audit["event_id"] == event.event_id and audit["duplicate_of"] is None
    assert audit["headers"] == {
        "X-Atlassian-Webhook-Identifier": "abc-123",
        "X-Atlassian-Webhook-Retry": "2",
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    assert b"sha256" not in audit_path.read_bytes()


def test_event_ids_never_collide_within_one_microsecond() -> None:
    """1,000 deliveries stamped with the very same instant still get 1,000 file names."""
    now = datetime.now(UTC)
    ids = {new_event_id(now, "jira_issue_updated") for _ in range(1000)}
    assert len(ids) == 1000


# --- deduplication -----------------------------------------------------------------------


def test_repeated_identifier_is_a_duplicate_but_still_audited(
    receiver_client: ReceiverClient,
) -> None:
    first = receiver_client.post(ISSUE_UPDATED, identifier="delivery-1")
    again = receiver_client.post(
        ISSUE_UPDATED, identifier="delivery-1", headers={"X-Atlassian-Webhook-Retry": "1"}
    )
    other = receiver_client.post(ISSUE_UPDATED, identifier="delivery-2")
    anonymous = [receiver_client.post(ISSUE_UPDATED) for _ in range(2)]
    assert first.status_code == 202 and other.status_code == 202
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    assert [r.status_code for r in anonymous] == [202, 202]  # no identifier: no dedup
    root = receiver_client.data_root
    assert len(list_pending(root)) == 4
    audits = [orjson.loads(p.read_bytes()) for p in json_files(root.webhook_events_dir)]
    assert len(audits) == 5
    [duplicate] = [a for a in audits if a["duplicate_of"]]
    assert duplicate["duplicate_of"] == first.get_json()["event_id"]
    assert duplicate["event_id"] == again.get_json()["event_id"]


def assert_marker_is_the_pending_event(root: DataRoot, marker: Path, response) -> None:
    """The marker is a hard link to the queued pending event: one file, two names."""
    event_id = response.get_json()["event_id"]
    [(queued, event)] = [(p, e) for p, e in list_pending(root) if e.event_id == event_id]
    assert marker.samefile(queued)
    assert PendingEvent.from_json(marker.read_bytes()) == event


def test_marker_left_empty_by_a_crash_does_not_swallow_the_retry(
    receiver_client: ReceiverClient,
) -> None:
    """A crash after claiming the identifier but before the event was durable leaves an
    empty marker: Jira's retry must be queued, not called a duplicate."""
    marker = DeliveryStore(receiver_client.data_root).marker_path("crashed-delivery")
    marker.parent.mkdir(parents=True)
    marker.write_bytes(b"")
    response = receiver_client.post(ISSUE_UPDATED, identifier="crashed-delivery")
    assert response.status_code == 202
    assert_marker_is_the_pending_event(receiver_client.data_root, marker, response)
    assert receiver_client.post(ISSUE_UPDATED, identifier="crashed-delivery").status_code == 200


STALE_EVENT_ID = "20240101T000000000000Z_jira_issue_updated_000000000000"


@pytest.mark.parametrize(
    "stale_marker",
    [
        STALE_EVENT_ID.encode(),
        PendingEvent(STALE_EVENT_ID, "2024-01-01T00:00:00+00:00", "jira_issue_updated",
                     "SUPPORT-1").to_json(),
    ],
    ids=["bare-event-id", "pending-event"],
)
def test_a_marker_naming_an_event_that_never_reached_the_inbox_does_not_block_the_retry(
    receiver_client: ReceiverClient, stale_marker: bytes
) -> None:
    """The marker names the event before it reaches the inbox: a crash in between leaves a
    marker whose event is in neither the inbox nor its archive. Both marker layouts: the
    pending event itself, and the bare event id that markers held before."""
    marker = DeliveryStore(receiver_client.data_root).marker_path("crashed-mid-write")
    marker.parent.mkdir(parents=True)
    marker.write_bytes(stale_marker)
    response = receiver_client.post(ISSUE_UPDATED, identifier="crashed-mid-write")
    assert response.status_code == 202
    event_id = response.get_json()["event_id"]
    assert_marker_is_the_pending_event(receiver_client.data_root, marker, response)
    assert [e.event_id for _, e in list_pending(receiver_client.data_root)] == [event_id]
    archive_pending(receiver_client.data_root, {event_id})  # its run succeeded
    assert receiver_client.post(ISSUE_UPDATED, identifier="crashed-mid-write").status_code == 200


# --- failures ----------------------------------------------------------------------------


def test_full_disk_answers_503_and_acknowledges_nothing(
    receiver_client: ReceiverClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC cannot be produced on demand here, so fsync is made to report it."""

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    response = receiver_client.post(ISSUE_UPDATED, identifier="while-full")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "error": "storage unavailable, retry later"}
    root = receiver_client.data_root
    assert [f for f in all_files(root.root)] == []
    monkeypatch.undo()
    assert receiver_client.post(ISSUE_UPDATED, identifier="while-full").status_code == 202


def test_unexpected_error_is_500_json_without_trace_or_partial_file(
    receiver_client: ReceiverClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure hits the last step, linking the pending event into the inbox: the marker
    and the audit copy written before it are removed too."""
    root = receiver_client.data_root
    link_as = NewFile.link_as

    def broken_inbox(self: NewFile, target: Path, **kwargs: bool) -> None:
        if Path(target).parent == root.inbox_dir:
            raise RuntimeError("boom in /secret/place")
        link_as(self, target, **kwargs)

    monkeypatch.setattr(NewFile, "link_as", broken_inbox)
    response = receiver_client.post(ISSUE_UPDATED, identifier="unlucky")
    assert response.status_code == 500
    assert response.get_json() == {"status": "error", "error": "internal error"}
    assert b"Traceback" not in response.data and b"boom" not in response.data
    assert all_files(root.root) == []
    monkeypatch.undo()
    assert receiver_client.post(ISSUE_UPDATED, identifier="unlucky").status_code == 202


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/webhooks/jira", 405),
        ("PUT", "/webhooks/jira", 405),
        ("GET", "/nowhere", 404),
    ],
)
def test_routing_errors_are_json(
    receiver_client: ReceiverClient, method: str, path: str, status: int
) -> None:
    response = receiver_client.client.open(path, method=method)
    assert response.status_code == status and response.get_json()["status"] == "error"


# --- debug endpoint ----------------------------------------------------------------------


def test_debug_endpoint_is_404_unless_debug(receiver_client: ReceiverClient) -> None:
    response = receiver_client.post({"issue_key": "SUPPORT-1"}, path="/webhooks/jira/test")
    assert response.status_code == 404
    assert all_files(receiver_client.data_root.root) == []


def test_debug_endpoint_queues_a_validated_key(data_root: DataRoot) -> None:
    app = create_app(receiver_config(data_root, JIRA_DEBUG=True))
    client = ReceiverClient(app.test_client(), data_root)
    path = "/webhooks/jira/test"
    assert client.post({"issue_key": "SUPPORT-8"}, path=path, signed=False).status_code == 401
    assert client.post({"issue_key": "../SUPPORT-8"}, path=path).status_code == 400
    assert client.post({"issue": {"key": "SUPPORT-8"}}, path=path).status_code == 400
    assert all_files(data_root.root) == []
    response = client.post({"issue_key": "SUPPORT-8"}, path=path)
    assert response.status_code == 202
    event = only_pending(data_root)
    assert (event.issue_key, event.event_type) == ("SUPPORT-8", "debug_refresh")


# --- logging -----------------------------------------------------------------------------


def test_one_structured_log_line_per_delivery_without_secrets(
    receiver_client: ReceiverClient, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": "SUPPORT-6"},
        "comment": "body-marker-text",
    }
    with caplog.at_level(logging.INFO, logger="webhook_receiver"):
        accepted = receiver_client.post(payload, identifier="log-1")
        receiver_client.post(payload, signed=False)
        receiver_client.post({"issue_key": "bad key\nINJECTED"})
    lines = [r.getMessage() for r in caplog.records if r.name == "webhook_receiver.deliveries"]
    assert len(lines) == 3
    records = [orjson.loads(line) for line in lines]
    assert [r["status"] for r in records] == [202, 401, 400]
    assert records[0]["event_id"] == accepted.get_json()["event_id"]
    assert records[0]["issue_key"] == "SUPPORT-6"
    assert records[0]["event_type"] == "jira_issue_updated"
    assert all(isinstance(r["duration_ms"], float) for r in records)
    text = caplog.text
    signature = sign_body(TEST_SECRET, as_body(payload))
    for forbidden in (TEST_SECRET, signature[7:], "body-marker-text", "INJECTED"):
        assert forbidden not in text


# --- health ------------------------------------------------------------------------------


def test_health_without_secret_is_degraded_and_says_why(data_root: DataRoot) -> None:
    app = create_app(receiver_config(data_root, JIRA_WEBHOOK_SECRET=""))
    health = app.test_client().get("/webhooks/jira/health").get_json()
    assert health["status"] == "degraded"
    assert health["configured"] is False and health["webhook_secret_set"] is False
    assert any("JIRA_WEBHOOK_SECRET" in problem for problem in health["problems"])


def test_health_counts_the_backlog_without_showing_secrets(
    receiver_client: ReceiverClient,
) -> None:
    for n in range(3):
        receiver_client.post({"issue_key": f"SUPPORT-{n + 1}"})
    response = receiver_client.client.get("/webhooks/jira/health")
    health = response.get_json()
    assert health["status"] == "ok" and health["configured"] is True
    assert health["jira_domain"] == "example.atlassian.net" and health["jira_auth"] == "ok"
    assert health["pending_events"] == 3 and 0 <= health["oldest_pending_age_s"] < 60
    assert TEST_SECRET.encode() not in response.data


def test_pending_summary_reads_names_only(data_root: DataRoot) -> None:
    """The health check's backlog figures: ages come from the event id's timestamp, files
    not named by ``new_event_id`` fall back to their mtime, archives and temp files skip."""
    assert pending_summary(data_root) == (0, None)
    now = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    for age_s in (30, 90):
        event_id = new_event_id(now - timedelta(seconds=age_s), "jira_issue_updated")
        (data_root.inbox_dir / "archive" / "2024-01-01").mkdir(parents=True, exist_ok=True)
        (data_root.inbox_dir / f"{event_id}.json").write_bytes(b"{}")
    (data_root.inbox_dir / ".x.json.tmp").write_bytes(b"")
    (data_root.inbox_dir / "archive" / "2024-01-01" / "old.json").write_bytes(b"{}")
    assert pending_summary(data_root, now=now) == (2, 90.0)
    foreign = data_root.inbox_dir / "0-manual.json"
    foreign.write_bytes(b"{}")
    os.utime(foreign, (now.timestamp() - 600, now.timestamp() - 600))
    assert pending_summary(data_root, now=now) == (3, 600.0)
