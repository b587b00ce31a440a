"""Clients that stop mid-request, against the production receiver (gunicorn as
``jira-pipeline receiver`` starts it) on loopback: they hold no thread, deliveries and
the health check are answered meanwhile, and the server closes them at its deadline.

No sleeps: the stalled connections are open before the delivery connects, and gunicorn's
workers accept from one listening socket in arrival order, so the delivery is accepted
only after every stalled connection was. The ones that ask ``Expect: 100-continue`` get
their interim answer once the server has read their head, which shows it holds them.
After the delivery every stalled connection is checked to be still open, unanswered:
the server's deadline (10 s from accepting it) is far beyond the milliseconds that takes,
and a check that did run late would fail, never pass by luck."""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import requests

from jira_pipeline_tests.fixtures.receiver import RunningReceiver, json_files, running_receiver
from webhook_receiver import MAX_BODY_BYTES
from webhook_receiver.worker import REQUEST_DEADLINE_S

HEAD = "POST /webhooks/jira HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"
STALLED_KINDS = {
    "connected, nothing sent": b"",
    "part of the request line": b"POST /webhooks/ji",
    "part of the head": (HEAD + "Content-Length: 90\r\nX-Hub-Sig").encode(),
    "head, part of the body": (HEAD + "Content-Length: 90\r\n\r\n").encode() + b'{"issue":',
    "head, part of a chunked body": (HEAD + "Transfer-Encoding: chunked\r\n\r\n20\r\n").encode(),
    "head expecting 100-continue": (
        HEAD + "Content-Length: 90\r\nExpect: 100-continue\r\n\r\n"
    ).encode(),
}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CLOSE_WITHIN_S = REQUEST_DEADLINE_S + 20  # the deadline, plus ample room for a busy machine


def delivery(n: int) -> tuple[bytes, str]:
    body = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": f"SLOW-{n}"}})
    return body, f"stalled-test-{n}"


@contextmanager
def stalled_connections(receiver: RunningReceiver, per_kind: int) -> Iterator[list[tuple]]:
    """``per_kind`` connections of every kind in :data:`STALLED_KINDS`, each having sent
    its bytes; yields (kind, socket) pairs and closes what is left on exit."""
    address = urlsplit(receiver.url)
    with ExitStack() as stack:
        opened = []
        for kind, sent in STALLED_KINDS.items():
            for _ in range(per_kind):
                sock = stack.enter_context(
                    socket.create_connection((address.hostname, address.port), timeout=5)
                )
                sock.sendall(sent)
                opened.append((kind, sock))
        yield opened


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    sock.settimeout(5)
    received = b""
    while len(received) < size and (chunk := sock.recv(size - len(received))):
        received += chunk
    return received


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def deliver(receiver: RunningReceiver, n: int) -> requests.Response:
    body, identifier = delivery(n)
    headers = receiver.headers_for(body, identifier)
    return requests.post(receiver.webhook_url, data=body, headers=headers, timeout=5)


def test_forty_stalled_connections_do_not_hold_back_a_delivery(tmp_path: Path) -> None:
    with running_receiver(tmp_path / "data") as receiver:  # the shipped 3 workers x 4 threads
        with stalled_connections(receiver, per_kind=7) as stalled:  # 42 connections
            for kind, sock in stalled:
                if kind == "head expecting 100-continue":
                    assert receive_exactly(sock, len(CONTINUE)) == CONTINUE  # head was read

            response = deliver(receiver, 1)
            assert response.status_code == 202 and response.json()["status"] == "accepted"
            assert requests.get(receiver.health_url, timeout=5).status_code == 200
            for _, sock in stalled:  # still held open: nothing answered, nothing closed yet
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1, socket.MSG_PEEK)
                sock.setblocking(True)

            for kind, sock in stalled:
                answer = read_until_closed(sock, CLOSE_WITHIN_S)
                if kind == "connected, nothing sent":
                    assert answer == b"", kind  # nothing to answer: closed
                    continue
                answer = answer.removeprefix(CONTINUE)
                assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), kind
                assert answer.endswith(b'{"status":"error","error":"request timeout"}'), kind

        assert len(json_files(receiver.data_root.inbox_dir)) == 1
        assert "refused a request from 127.0.0.1" in receiver.log_text()


def test_two_stalled_connections_leave_a_one_by_two_receiver_serving(tmp_path: Path) -> None:
    with (
        running_receiver(tmp_path / "data", workers=1, threads=2) as receiver,
        stalled_connections(receiver, per_kind=1) as stalled,
    ):
        assert len(stalled) >= 2
        assert requests.get(receiver.health_url, timeout=5).status_code == 200
        assert deliver(receiver, 2).status_code == 202


# --- requests the worker reads whole before a thread gets them ----------------------------


def raw_request(receiver: RunningReceiver, n: int, extra_headers: str = "") -> tuple[bytes, bytes]:
    """A signed delivery as bytes on the wire: (head, body)."""
    body, identifier = delivery(n)
    headers = receiver.headers_for(body, identifier)
    lines = [f"POST {urlsplit(receiver.webhook_url).path} HTTP/1.1", "Host: receiver",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n" + extra_headers + "\r\n").encode(), body


def connect(receiver: RunningReceiver) -> socket.socket:
    address = urlsplit(receiver.url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def statuses(answer: bytes) -> list[int]:
    """Status codes of the answers in ``answer`` (JSON bodies never hold "HTTP/1.1 ")."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def test_expect_continue_gets_its_interim_answer_then_the_delivery_is_stored(
    receiver: RunningReceiver,
) -> None:
    head, body = raw_request(receiver, 3, "Expect: 100-continue\r\n")
    with connect(receiver) as sock:
        sock.sendall(head)
        assert receive_exactly(sock, len(CONTINUE)) == CONTINUE
        sock.sendall(body)
        sock.shutdown(socket.SHUT_WR)
        answer = read_until_closed(sock, 10)
    assert statuses(answer)[-1] == 202
    assert len(json_files(receiver.data_root.inbox_dir)) == 1


def test_pipelined_deliveries_on_one_connection_are_each_answered(
    receiver: RunningReceiver,
) -> None:
    """The second request arrives with the first: it is read from the buffer, whole."""
    first, second = raw_request(receiver, 4), raw_request(receiver, 5, "Connection: close\r\n")
    with connect(receiver) as sock:
        sock.sendall(b"".join(first) + b"".join(second))
        answer = read_until_closed(sock, 10)
    assert statuses(answer) == [202, 202]
    assert len(json_files(receiver.data_root.inbox_dir)) == 2


def test_a_length_over_the_limit_is_refused_before_the_body_arrives(
    receiver: RunningReceiver,
) -> None:
    head = (
        f"POST {urlsplit(receiver.webhook_url).path} HTTP/1.1\r\nHost: receiver\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    ).encode()
    with connect(receiver) as sock:
        sock.sendall(head)  # and not one byte of the body
        answer = read_until_closed(sock, 10)
    assert statuses(answer) == [413]
    assert answer.endswith(b'{"status":"error","error":"request entity too large"}')
    assert json_files(receiver.data_root.webhook_events_dir) == []


def test_a_chunked_delivery_is_read_whole_and_stored(receiver: RunningReceiver) -> None:
    body, identifier = delivery(6)
    url = urlsplit(receiver.webhook_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(
            "POST", url.path, body=iter([body[:10], body[10:]]), encode_chunked=True,
            headers={**receiver.headers_for(body, identifier), "Transfer-Encoding": "chunked"},
        )
        response = connection.getresponse()
        assert response.status == 202 and orjson.loads(response.read())["status"] == "accepted"
    finally:
        connection.close()
    [stored] = json_files(receiver.data_root.webhook_events_dir)
    assert stored.read_bytes().endswith(b',"body":' + body + b"}")  # de-chunked, byte for byte
