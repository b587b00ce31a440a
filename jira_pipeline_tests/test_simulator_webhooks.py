"""The webhook sender against a tiny local receiver that verifies signatures the way Jira's
consumers must: deliveries are signed, retries reuse identifiers, some arrive out of order,
and every change is visible to a later GET."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
import requests

from jira_pipeline import cli
from jira_pipeline.jira.signature import sign_body
from jira_pipeline.sandbox.simulator import DEFAULT_EMAIL, DEFAULT_TOKEN, SimulatedJira
from jira_pipeline.sandbox.simulator.webhooks import send_webhooks
from jira_pipeline_tests.fixtures import jira_shapes
from jira_pipeline_tests.fixtures.key_structure import key_structure, structure_differences

SECRET = "test-webhook-secret"


@dataclass
class Receiver:
    url: str
    deliveries: list[tuple[dict, bytes]] = field(default_factory=list)  # (headers, body)
    rejected: int = 0
    seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Answers 202 for a new identifier, 200 for a repeat, 401 for a bad signature."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            with state.lock:
                if not hmac.compare_digest(self.headers.get("X-Hub-Signature", ""), expected):
                    state.rejected += 1
                    status = 401
                else:
                    identifier = self.headers["X-Atlassian-Webhook-Identifier"]
                    status = 200 if identifier in state.seen else 202
                    state.seen.add(identifier)
                    state.deliveries.append((dict(self.headers), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/rest/webhooks/jira"
    yield state
    server.shutdown()
    server.server_close()


def test_sign_matches_a_known_hmac_sha256_vector() -> None:
    assert (
        sign_body("key", b"The quick brown fox jumps over the lazy dog")
        == "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_deliveries_are_signed_retried_reordered_and_reflected(
    make_simulator, receiver: Receiver
) -> None:
    server = make_simulator(jira=SimulatedJira(seed=5, issues=50))
    summary = send_webhooks(
        receiver.url, SECRET, 60, seed=9, jira=server.jira, retry_fraction=0.2, reorder_fraction=0.2
    )
    assert receiver.rejected == 0 and summary.failed == 0
    assert summary.sent == len(receiver.deliveries) == len(summary.deliveries)
    assert summary.accepted == 60 and summary.duplicates == summary.sent - 60 > 0
    # Retries carry the same identifier, the same body and the retry header.
    by_identifier: dict[str, list[tuple[dict, bytes]]] = {}
    for headers, body in receiver.deliveries:
        by_identifier.setdefault(headers["X-Atlassian-Webhook-Identifier"], []).append(
            (headers, body)
        )
    retried = [d for d in by_identifier.values() if len(d) > 1]
    assert retried and all(
        d[0][1] == d[1][1] and d[1][0]["X-Atlassian-Webhook-Retry"] == "1" for d in retried
    )
    assert all(
        h["Content-Type"].startswith("application/json") and h["X-Atlassian-Webhook-Flow"]
        for h, _ in receiver.deliveries
    )
    # Some arrive after a later change: first deliveries are not in mutation order.
    first_sequences = [d.sequence for d in summary.deliveries if d.retry == 0]
    assert sorted(first_sequences) == list(range(60)) and first_sequences != list(range(60))
    _assert_reflected(
        server,
        [
            orjson.loads(b)
            for b in dict(
                (h["X-Atlassian-Webhook-Identifier"], b) for h, b in receiver.deliveries
            ).values()
        ],
    )


def _assert_reflected(server, bodies: list[dict]) -> None:
    """Each change is visible in a later GET (unless a later change undid it)."""
    jira = server.jira
    http = requests.Session()
    http.auth = (DEFAULT_EMAIL, DEFAULT_TOKEN)
    deleted = {b["issue"]["key"] for b in bodies if b["webhookEvent"] == "jira:issue_deleted"}
    removed_comments = {
        b["comment"]["id"] for b in bodies if b["webhookEvent"] == "comment_deleted"
    }
    removed_links = {
        b["issueLink"]["id"] for b in bodies if b["webhookEvent"] == "issuelink_deleted"
    }
    checked = 0
    for body in bodies:
        event = body["webhookEvent"]
        if event == "jira:issue_deleted":
            key = body["issue"]["key"]
            assert http.get(f"{server.base_url}/rest/api/3/issue/{key}").status_code == 404
            checked += 1
        elif event.startswith("jira:issue") and body["issue"]["key"] not in deleted:
            issue = http.get(f"{server.base_url}/rest/api/3/issue/{body['issue']['key']}")
            assert issue.status_code == 200
            checked += 1
        elif (
            event == "comment_created"
            and body["issue"]["key"] not in deleted
            and body["comment"]["id"] not in removed_comments
        ):
            issue = http.get(f"{server.base_url}/rest/api/3/issue/{body['issue']['key']}").json()
            assert body["comment"]["id"] in {
                c["id"] for c in issue["fields"]["comment"]["comments"]
            }
            checked += 1
        elif event == "issuelink_created" and body["issueLink"]["id"] not in removed_links:
            link = body["issueLink"]
            source = jira.issue_id_to_key(link["sourceIssueId"])
            target = jira.issue_id_to_key(link["destinationIssueId"])
            if source in deleted or target in deleted:
                continue
            issue = http.get(f"{server.base_url}/rest/api/3/issue/{source}").json()
            assert any(
                entry["id"] == str(link["id"])
                and entry.get("outwardIssue", {}).get("key") == target
                for entry in issue["fields"]["issuelinks"]
            )
            checked += 1
    assert checked >= 20


def test_webhook_bodies_have_the_cloud_v2_shape() -> None:
    site = SimulatedJira(seed=8, issues=40, base_url="https://sim.example")
    bodies: dict[str, list[dict]] = {}
    import random

    rng = random.Random(1)
    for _ in range(120):
        mutation = site.mutate(rng)
        bodies.setdefault(mutation.event, []).append(mutation.body)
    shapes = {
        "jira:issue_updated": jira_shapes.WEBHOOK_ISSUE_UPDATED,
        "jira:issue_deleted": jira_shapes.WEBHOOK_ISSUE_DELETED,
        "comment_created": jira_shapes.WEBHOOK_COMMENT,
        "attachment_created": jira_shapes.WEBHOOK_ATTACHMENT,
        "issuelink_created": jira_shapes.WEBHOOK_ISSUELINK,
    }
    for event, reference in shapes.items():
        assert not structure_differences(
            key_structure([reference]), key_structure(bodies[event])
        ), event
    for body in bodies["jira:issue_updated"]:
        assert "/rest/api/2/" in body["issue"]["self"]
        description = body["issue"]["fields"]["description"]
        assert description is None or isinstance(description, str)
    comment = bodies["comment_created"][0]
    assert isinstance(comment["comment"]["body"], str)
    assert set(comment["issue"]["fields"]) == {
        "summary",
        "issuetype",
        "project",
        "assignee",
        "priority",
        "status",
    }
    assert "issue" not in bodies["issuelink_created"][0]


def test_send_webhooks_command_drives_a_running_simulator(
    make_simulator, receiver: Receiver, capsys
) -> None:
    server = make_simulator()
    version = server.jira.snapshot()["version"]
    code = cli.main(
        [
            "simulator",
            "send-webhooks",
            "--url",
            receiver.url,
            "--secret",
            SECRET,
            "--count",
            "15",
            "--seed",
            "4",
            "--simulator-url",
            server.base_url,
        ]
    )
    assert code == 0
    assert server.jira.snapshot()["version"] >= version + 15
    assert len({h["X-Atlassian-Webhook-Identifier"] for h, _ in receiver.deliveries}) == 15
    assert "15 accepted" in capsys.readouterr().out
    bad = send_webhooks(receiver.url, "wrong-secret", 3, jira=server.jira, retry_fraction=0)
    assert bad.failed == 3 and receiver.rejected == 3


def test_serve_command_prints_url_and_serves_with_faults() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jira_pipeline.cli",
            "simulator",
            "serve",
            "--port",
            "0",
            "--issues",
            "20",
            "--seed",
            "3",
            "--rate-limit-every",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line.strip())
            if line.startswith("Press Ctrl+C"):
                break
        env = dict(line.split("=", 1) for line in lines if line.startswith("JIRA_"))
        url = f"{env['JIRA_BASE_URL']}/rest/api/3/issue/SUPPORT-1"
        auth = (env["JIRA_EMAIL"], env["JIRA_API_TOKEN"])
        statuses = [requests.get(url, auth=auth, timeout=10).status_code for _ in range(4)]
        assert statuses == [200, 429, 200, 429]
        local = SimulatedJira(seed=3, issues=20, base_url=env["JIRA_BASE_URL"])
        assert requests.get(url, auth=auth, timeout=10).content == local.issue_bytes("SUPPORT-1")
    finally:
        process.terminate()
        process.wait(timeout=10)
