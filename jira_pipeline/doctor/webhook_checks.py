"""The receiver: its health at ``--receiver-url``, and with ``--send-test`` a signed test
delivery followed through the inbox and, when a daemon runs, into Parquet."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import requests

from jira_pipeline.core.dates import month_of
from jira_pipeline.doctor.check import Check, fail, ok, warn
from jira_pipeline.jira.signature import sign_body
from jira_pipeline.storage.inbox import is_queued
from jira_pipeline.storage.paths import DataRoot

WEBHOOK_PATH = "/webhooks/jira"


def receiver_base(url: str) -> str:
    """The receiver's base URL, whether given bare, as the webhook URL or the health URL."""
    base = url.rstrip("/")
    for suffix in (f"{WEBHOOK_PATH}/health", WEBHOOK_PATH):
        base = base.removesuffix(suffix)
    return base


def check_receiver(url: str | None) -> Check:
    if not url:
        return warn("receiver", "not checked: pass --receiver-url (e.g. http://127.0.0.1:8000)")
    health_url = f"{receiver_base(url)}{WEBHOOK_PATH}/health"
    try:
        response = requests.get(health_url, timeout=10)
        health = response.json()
    except (requests.RequestException, ValueError) as exc:
        return fail("receiver", f"{health_url} does not answer ({type(exc).__name__}): start "
                    "`jira-pipeline receiver` or fix --receiver-url")
    if not health.get("webhook_secret_set"):
        return fail("receiver", "the receiver has no JIRA_WEBHOOK_SECRET: it refuses every delivery")
    problems = health.get("problems") or []
    if health.get("status") != "ok" or problems:
        return warn("receiver", f"{health_url} degraded: {'; '.join(map(str, problems))}")
    return ok("receiver", f"{health_url} ok, {health.get('pending_events')} events pending")


def probe_delivery_body(issue: dict[str, Any]) -> bytes:
    """A ``jira:issue_updated`` for a real issue in scope, as Jira sends it (the fields the
    receiver reads): the run it triggers refetches that issue, changing nothing."""
    now_ms = int(time.time() * 1000)
    return orjson.dumps(
        {
            "timestamp": now_ms,
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "issue": {
                "id": issue["id"],
                "key": issue["key"],
                "fields": {"created": issue["created"]},
            },
        }
    )


def _in_parquet(root: DataRoot, key: str, month: str) -> bool:
    path = root.month_file("issues", month)
    if not path.is_file():
        return False
    with duckdb.connect() as con:
        found = con.execute(
            "SELECT count(*) FROM read_parquet(?) WHERE issue_key = ?", [str(path), key]
        ).fetchone()
    return bool(found and found[0])


def _archived(root: DataRoot, event_id: str) -> bool:
    return is_queued(root, event_id) and not (root.inbox_dir / f"{event_id}.json").exists()


def send_test_delivery(
    url: str | None,
    secret: str,
    root: DataRoot,
    issue: dict[str, Any] | None,
    *,
    daemon_running: bool,
    wait_s: float = 180,
) -> Check:
    """Sign and post one delivery; confirm each stage it reaches: accepted, in the inbox,
    archived after the sensor's run, in the month's Parquet file. Says which was last."""
    name = "test delivery"
    if not url or not secret or issue is None:
        return fail(name, "needs --receiver-url, JIRA_WEBHOOK_SECRET and an issue in scope")
    body = probe_delivery_body(issue)
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature": sign_body(secret, body),
        "X-Atlassian-Webhook-Identifier": f"doctor-{uuid.uuid4()}",
    }
    try:
        response = requests.post(
            f"{receiver_base(url)}{WEBHOOK_PATH}", data=body, headers=headers, timeout=15
        )
    except requests.RequestException as exc:
        return fail(name, f"posting to the receiver failed ({type(exc).__name__})")
    if response.status_code == 401:
        return fail(
            name,
            "the receiver refused a delivery signed with JIRA_WEBHOOK_SECRET (401): it runs "
            "with another secret; set the same JIRA_WEBHOOK_SECRET for it and in Jira",
        )
    if response.status_code != 202:
        return fail(name, f"the receiver answered {response.status_code}, not 202")
    event_id = response.json().get("event_id", "")
    if not is_queued(root, event_id):
        return fail(
            name,
            f"accepted (202) but {event_id} is not in {root.inbox_dir}: the receiver writes "
            "to another JIRA_DATA_ROOT than this one",
        )
    if not daemon_running:
        return ok(name, f"accepted and in the inbox ({event_id}); no daemon runs, so the "
                  "Parquet stage was not awaited")
    key, month = issue["key"], month_of(issue["created"])
    deadline = time.monotonic() + wait_s
    started = datetime.now(UTC)
    while time.monotonic() < deadline:
        if _archived(root, event_id) and _in_parquet(root, key, month):
            waited = (datetime.now(UTC) - started).total_seconds()
            return ok(name, f"accepted, queued, run by the sensor and {key} is in "
                      f"parquet/jira/issues/{month}.parquet ({waited:.0f} s)")
        time.sleep(1)
    return fail(
        name,
        f"accepted and queued ({event_id}) but not through the sensor's run within "
        f"{wait_s:.0f} s: look at the jira_month_job runs in the Dagster UI",
    )
