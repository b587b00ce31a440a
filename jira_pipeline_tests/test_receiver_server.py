"""The receiver under its production server (gunicorn, ``jira-pipeline receiver``) on
loopback: concurrency across worker processes, dedup that survives a restart, disk
trouble answered with 503, the chunked size limit, and the health endpoint."""

from __future__ import annotations

import http.client
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import requests

from jira_pipeline.cli import build_parser
from jira_pipeline.storage.auth_state import ROTATE_HINTS, clear_auth_failure, record_auth_failure
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline_tests.fixtures.receiver import (
    TEST_SECRET,
    RunningReceiver,
    all_files,
    delivery_headers,
    json_files,
    running_receiver,
)
from webhook_receiver import MAX_BODY_BYTES

CLIENTS = 16
PER_CLIENT = 100
SITE = {"JIRA_DOMAIN": "example.atlassian.net"}  # so "configured" hangs on the secret alone


def delivery(client: int, n: int) -> tuple[bytes, str]:
    key = f"LOAD{client}-{n + 1}"
    body = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": key}})
    return body, f"delivery-{client}-{n}"


def send_all(receiver: RunningReceiver) -> list[tuple[int, str]]:
    """16 clients, each with its own keep-alive connection, 100 distinct deliveries each
    (stdlib ``http.client``: ``requests`` costs ~4x its CPU on a 2-core machine)."""
    barrier = threading.Barrier(CLIENTS)
    url = urlsplit(receiver.webhook_url)

    def run_client(client: int) -> list[tuple[int, str]]:
        results = []
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            barrier.wait()
            for n in range(PER_CLIENT):
                body, identifier = delivery(client, n)
                connection.request(
                    "POST", url.path, body=body, headers=receiver.headers_for(body, identifier)
                )
                response = connection.getresponse()
                results.append((response.status, orjson.loads(response.read())["status"]))
        finally:
            connection.close()
        return results

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [r for batch in pool.map(run_client, range(CLIENTS)) for r in batch]


def test_concurrent_deliveries_are_all_stored_once(receiver: RunningReceiver) -> None:
    root = receiver.data_root
    first = send_all(receiver)
    assert first == [(202, "accepted")] * (CLIENTS * PER_CLIENT)
    assert len(json_files(root.webhook_events_dir)) == 1600
    pending = list_pending(root)
    assert len(pending) == 1600
    assert {e.issue_key for _, e in pending} == {
        f"LOAD{c}-{n + 1}" for c in range(CLIENTS) for n in range(PER_CLIENT)
    }

    again = send_all(receiver)
    assert again == [(200, "duplicate")] * (CLIENTS * PER_CLIENT)
    assert len(json_files(root.webhook_events_dir)) == 3200
    assert len(json_files(root.inbox_dir)) == 1600

    log = receiver.log_text()
    assert log.count('"msg":"webhook delivery"') == 3200
    assert TEST_SECRET not in log and "sha256=" not in log and '"webhookEvent"' not in log


def test_simultaneous_retries_of_one_delivery_queue_it_once(receiver: RunningReceiver) -> None:
    body, identifier = delivery(0, 0)
    barrier = threading.Barrier(CLIENTS)

    def post(_: int) -> int:
        barrier.wait()
        return requests.post(
            receiver.webhook_url,
            data=body,
            timeout=30,
            headers=receiver.headers_for(body, identifier),
        ).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = sorted(pool.map(post, range(CLIENTS)))
    assert statuses == [200] * (CLIENTS - 1) + [202]
    assert len(json_files(receiver.data_root.inbox_dir)) == 1
    assert len(json_files(receiver.data_root.webhook_events_dir)) == CLIENTS


def test_dedup_survives_a_restart(tmp_path: Path) -> None:
    body, identifier = delivery(1, 1)
    with running_receiver(tmp_path / "data") as first:
        response = requests.post(
            first.webhook_url, data=body, headers=first.headers_for(body, identifier), timeout=10
        )
        assert response.status_code == 202
    with running_receiver(tmp_path / "data") as second:
        response = requests.post(
            second.webhook_url, data=body, headers=second.headers_for(body, identifier), timeout=10
        )
        assert response.status_code == 200 and response.json()["status"] == "duplicate"
        assert len(json_files(second.data_root.inbox_dir)) == 1


def test_disk_trouble_is_503_and_nothing_is_acknowledged(receiver: RunningReceiver) -> None:
    """Tests run as root, so chmod cannot make the data root read-only; a regular file where
    a directory must be makes every write there fail with an OSError just the same."""
    root = receiver.data_root
    body, identifier = delivery(2, 2)

    def post() -> requests.Response:
        return requests.post(
            receiver.webhook_url,
            data=body,
            timeout=10,
            headers=receiver.headers_for(body, identifier),
        )

    for blocked in (root.inbox_dir, root.webhook_events_dir, root.state_dir):
        blocked.parent.mkdir(parents=True, exist_ok=True)
        blocked.write_bytes(b"not a directory")
        response = post()
        assert response.status_code == 503, blocked
        assert response.json() == {"status": "error", "error": "storage unavailable, retry later"}
        blocked.unlink()
        assert all_files(root.root) == []  # nothing kept of the refused delivery
        shutil.rmtree(root.root)  # empty directories made on the way

    root.raw.mkdir(parents=True)
    root.inbox_dir.write_bytes(b"not a directory")
    health = requests.get(receiver.health_url, timeout=10).json()
    assert health["status"] == "degraded" and health["pending_events"] is None
    root.inbox_dir.unlink()

    assert post().status_code == 202  # Jira's retry after the operator fixed the disk
    assert len(json_files(root.inbox_dir)) == 1


def test_chunked_body_over_the_limit_is_413(receiver: RunningReceiver) -> None:
    url = urlsplit(receiver.webhook_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    chunks = [b"x" * (64 * 1024)] * (MAX_BODY_BYTES // (64 * 1024) + 1)
    connection.request(
        "POST",
        url.path,
        body=iter(chunks),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked", "X-Hub-Signature": "sha256=0"},
    )
    response = connection.getresponse()
    assert response.status == 413
    assert orjson.loads(response.read())["status"] == "error"
    connection.close()
    assert json_files(receiver.data_root.webhook_events_dir) == []


def test_health_reports_backlog_and_token_state_without_secrets(
    receiver: RunningReceiver,
) -> None:
    root = receiver.data_root
    body, identifier = delivery(3, 3)
    requests.post(
        receiver.webhook_url, data=body, timeout=10, headers=receiver.headers_for(body, identifier)
    )
    record_auth_failure(root, "api")
    response = requests.get(receiver.health_url, timeout=10)
    health = response.json()
    assert set(health) == {
        "status",
        "configured",
        "webhook_secret_set",
        "jira_domain",
        "jira_auth",
        "config_problem",
        "pending_events",
        "oldest_pending_age_s",
        "problems",
    }
    assert health["webhook_secret_set"] is True and health["pending_events"] == 1
    assert 0 <= health["oldest_pending_age_s"] < 60
    assert health["jira_auth"] == ROTATE_HINTS["api"] and health["status"] == "degraded"
    assert TEST_SECRET not in response.text
    clear_auth_failure(root, "api")
    health = requests.get(receiver.health_url, timeout=10).json()
    assert health["jira_auth"] == "ok" and health["problems"] == []


def test_receiver_command_is_registered_with_production_defaults() -> None:
    args = build_parser().parse_args(["receiver"])
    assert (args.host, args.port, args.workers, args.threads) == ("127.0.0.1", 8000, 3, 4)
    args = build_parser().parse_args(
        ["receiver", "--port", "0", "--workers", "2", "--threads", "8", "--host", "0.0.0.0"]
    )
    assert (args.host, args.port, args.workers, args.threads) == ("0.0.0.0", 0, 2, 8)


def test_secret_padded_with_whitespace_accepts_signatures_of_the_stripped_secret(
    tmp_path: Path,
) -> None:
    """A Kubernetes secret made ``--from-file`` ends in a newline Jira never signs with."""
    body, identifier = delivery(4, 4)
    with running_receiver(tmp_path / "data", secret=f"  {TEST_SECRET}\n", env=SITE) as running:
        padded = delivery_headers(body, f"  {TEST_SECRET}\n", identifier)
        response = requests.post(running.webhook_url, data=body, headers=padded, timeout=10)
        assert response.status_code == 401
        stripped = delivery_headers(body, TEST_SECRET, identifier)
        response = requests.post(running.webhook_url, data=body, headers=stripped, timeout=10)
        assert response.status_code == 202 and response.json()["status"] == "accepted"
        health = requests.get(running.health_url, timeout=10).json()
        assert health["configured"] is True and health["problems"] == []


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (" \n", "JIRA_WEBHOOK_SECRET is not set"),
        ("fifteen-chars!!\n", "JIRA_WEBHOOK_SECRET is too short (15 characters, at least 16)"),
    ],
)
def test_blank_or_short_secret_refuses_deliveries_and_health_says_why(
    tmp_path: Path, secret: str, reason: str
) -> None:
    body, identifier = delivery(5, 5)
    with running_receiver(tmp_path / "data", secret=secret, env=SITE) as running:
        signed = delivery_headers(body, secret.strip(), identifier)
        response = requests.post(running.webhook_url, data=body, headers=signed, timeout=10)
        assert response.status_code == 503
        assert response.json() == {"status": "error", "error": "webhook secret not configured"}
        assert all_files(running.data_root.root) == []
        response = requests.get(running.health_url, timeout=10)
        health = response.json()
        assert health["status"] == "degraded" and health["configured"] is False
        assert health["webhook_secret_set"] is bool(secret.strip())
        [problem] = health["problems"]
        assert problem.startswith(reason) and problem.endswith("deliveries are refused with 503")
        if secret.strip():
            assert secret.strip() not in response.text
