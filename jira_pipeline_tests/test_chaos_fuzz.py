"""Chaos 4: hostile input against the receiver, at volume (≥ 5,000 cases with
``--run-chaos``). With the secret set: never a 5xx, never a file outside the receiver's
folders of the data root, and the secret in no response and no log line (every record the
app logs is captured and scanned, tracebacks included). A second part speaks raw HTTP to
the production server (gunicorn) with malformed requests and scans its log.

The body/header strategies are the receiver's own property test's (imported, not copied);
this case adds the volume, the method/path mix, the log and response scan, and raw HTTP."""

from __future__ import annotations

import logging
import random
import secrets
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jira_pipeline.jira.signature import sign_body
from jira_pipeline.storage import DataRoot
from jira_pipeline_tests.chaos.report import ChaosReport, ChaosRow
from jira_pipeline_tests.fixtures.chaos import ChaosScale
from jira_pipeline_tests.fixtures.receiver import receiver_config, running_receiver
from jira_pipeline_tests.fixtures.receiver_inputs import (
    bodies,
    files_outside,
    header_text,
    signature_headers,
    signature_styles,
)
from webhook_receiver import create_app

# The long version (--run-chaos) runs for minutes on a busy 2-core machine
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

SECRET = "fuzz-" + secrets.token_hex(16)  # distinctive, so any leak is found by substring
PATHS = ["/webhooks/jira"] * 6 + [
    "/webhooks/jira/test",
    "/webhooks/jira/health",
    "/webhooks/jira/../../etc/passwd",
    "/webhooks/%2e%2e/%2e%2e/etc/passwd",
    "/webhooks/jira%00.json",
    "/webhooks//jira",
    "/webhooks/jira/..%2f..%2fsecret",
]
VALID_BODY = b'{"webhookEvent":"jira:issue_updated","issue":{"key":"SUP-1"}}'
BAD_KEY_BODY = b'{"webhookEvent":"jira:issue_updated","issue":{"key":"../../etc/passwd"}}'
METHODS = ["POST"] * 8 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]


class CapturedLogs(logging.Handler):
    """Every log record of the process, formatted with its traceback, for the secret scan."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs() -> Any:
    handler = CapturedLogs()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def in_process_fuzz(tmp_path: Path, examples: int, logs: CapturedLogs) -> Counter[int]:
    data_root = DataRoot(tmp_path / "data")
    data_root.root.mkdir(parents=True)
    app = create_app(receiver_config(data_root, JIRA_WEBHOOK_SECRET=SECRET, JIRA_DEBUG=True))
    client = app.test_client()
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        body=bodies,
        style=signature_styles,
        garbage=header_text,
        identifier=st.none() | header_text,
        retry=st.none() | header_text,
        path=st.sampled_from(PATHS),
        method=st.sampled_from(METHODS),
        resign=st.booleans(),
    )
    # Random draws may miss the branches the test asserts were reached: pin one valid
    # delivery (202), one signed delivery with a bad key (400) and one unsigned one (401).
    @example(VALID_BODY, "prefixed", "", "pinned-valid", None, "/webhooks/jira", "POST", True)
    @example(BAD_KEY_BODY, "prefixed", "", None, None, "/webhooks/jira", "POST", True)
    @example(VALID_BODY, "none", "", None, None, "/webhooks/jira", "POST", False)
    def deliver(
        body: bytes,
        style: str,
        garbage: str,
        identifier: str | None,
        retry: str | None,
        path: str,
        method: str,
        resign: bool,
    ) -> None:
        headers: dict[str, str] = signature_headers(style, body, garbage)
        if resign and headers:  # signed with the real secret: reaches validation and storage
            headers = {"X-Hub-Signature": sign_body(SECRET, body)}
        if identifier is not None:
            headers["X-Atlassian-Webhook-Identifier"] = identifier
        if retry is not None:
            headers["X-Atlassian-Webhook-Retry"] = retry
        response = client.open(path, method=method, data=body, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, response.data[:300]
        exposed = response.get_data() + repr(sorted(response.headers.items())).encode()
        assert SECRET.encode() not in exposed

    deliver()
    assert files_outside(data_root, tmp_path) == []
    return statuses


def hostile_requests(rng: random.Random, count: int, secret: str) -> list[bytes]:
    """Malformed and hostile raw HTTP requests: bad request lines, traversal targets, lying
    Content-Length, chunked bodies, oversized headers and bodies, non-UTF-8 bytes."""
    valid_body = b'{"webhookEvent":"jira:issue_updated","issue":{"key":"SUP-1"}}'
    signed = sign_body(secret, valid_body).encode()
    makers = [
        lambda: b"POST /webhooks/jira/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        lambda: b"GET /webhooks/jira/health/%2e%2e%2f%2e%2e%2f HTTP/1.1\r\nHost: x\r\n\r\n",
        lambda: b"POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n{}",
        lambda: b"POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        lambda: (
            b"POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"X-Hub-Signature: "
            + signed
            + b"\r\n\r\n"
            + hex(len(valid_body))[2:].encode()
            + b"\r\n"
            + valid_body
            + b"\r\n0\r\n\r\n"
        ),
        lambda: (
            b"POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\n" + rng.randbytes(20) + b"\r\n"
        ),
        lambda: (
            b"POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nX-Hub-Signature: "
            + b"A" * rng.randint(1, 9000)
            + b"\r\n\r\n"
        ),
        lambda: (
            b"POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nContent-Length: 1100000\r\n"
            b"X-Hub-Signature: " + signed + b"\r\n\r\n" + b"x" * 1_100_000
        ),
        lambda: (
            rng.choice([b"GET", b"POST", b"\x00\xff", b"BREW"])
            + b" "
            + rng.randbytes(rng.randint(0, 60))
            + b" HTTP/1.1\r\n\r\n"
        ),
        lambda: (
            b"POST /webhooks/jira HTTP/1.1\r\nHost: x\r\nX-Atlassian-Webhook-Identifier: "
            + rng.randbytes(30).replace(b"\r", b"").replace(b"\n", b"")
            + b"\r\nContent-Length: "
            + str(len(valid_body)).encode()
            + b"\r\nX-Hub-Signature: "
            + signed
            + b"\r\n\r\n"
            + valid_body
        ),
        lambda: rng.randbytes(rng.randint(1, 400)),
    ]
    return [rng.choice(makers)() for _ in range(count)]


def send_raw(port: int, request: bytes) -> int | None:
    """The status code of the answer, or None when the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server refused the rest of an oversized request
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and answer.startswith(b"HTTP/") else None


def test_fuzzed_receiver_never_5xx_never_escapes_never_leaks_the_secret(
    tmp_path: Path,
    chaos_scale: ChaosScale,
    chaos_report: ChaosReport,
    captured_logs: CapturedLogs,
) -> None:
    statuses = in_process_fuzz(tmp_path, chaos_scale.pick(300, 5000), captured_logs)
    assert {202, 400, 401} <= set(statuses), statuses  # every branch was reached
    leaked = [line for line in captured_logs.lines if SECRET in line]
    assert not leaked, leaked[:3]
    chaos_report.add(
        ChaosRow(
            case="4a hostile input to the receiver (hypothesis)",
            runs=1,
            faults=f"{sum(statuses.values())} fuzzed bodies, headers, methods, paths",
            events_sent=sum(statuses.values()),
            events_in_parquet=None,
            lost=0,
            checked=f"0 x 5xx ({dict(sorted(statuses.items()))}); nothing outside the data "
            f"root; secret in none of {len(captured_logs.lines)} log records or responses",
        )
    )


def test_malformed_http_to_production_receiver_never_5xx_never_leaks_the_secret(
    tmp_path: Path, chaos_scale: ChaosScale, chaos_report: ChaosReport
) -> None:
    statuses: Counter[int | None] = Counter()
    server_errors = []
    data_root = DataRoot(tmp_path / "data")
    with running_receiver(data_root, secret=SECRET) as server:
        port = int(server.url.rsplit(":", 1)[1])
        for request in hostile_requests(random.Random(4), chaos_scale.pick(40, 600), SECRET):
            status = send_raw(port, request)
            statuses[status] += 1
            if status is not None and status >= 500:
                server_errors.append(request[:120])
        log_text = server.log_text()
    server_log = server.log_path.name  # the test fixture's copy of gunicorn's output
    stray = [name for name in files_outside(data_root, tmp_path) if name != server_log]
    chaos_report.add(
        ChaosRow(
            case="4b malformed raw HTTP to gunicorn",
            runs=1,
            faults=f"{sum(statuses.values())} hostile requests (bad chunking, lying lengths, "
            "traversal targets, binary noise)",
            events_sent=sum(statuses.values()),
            events_in_parquet=None,
            lost=0,
            checked=f"{len(server_errors)} x 5xx ({ {str(k): v for k, v in statuses.items()} }); "
            f"secret {'IN' if SECRET in log_text else 'not in'} the server log; "
            f"{len(stray)} files outside the data root",
        )
    )
    assert not server_errors, f"5xx for {len(server_errors)} raw requests, e.g. {server_errors[:2]}"
    assert SECRET not in log_text
    assert stray == []
