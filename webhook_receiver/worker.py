"""gunicorn's ``gthread`` worker, except that a thread only ever gets a request that has
fully arrived.

Stock ``gthread`` hands a connection to a thread as soon as it is readable, and the thread
then blocks reading the rest of the head and body with no deadline: a few clients that
send part of a request and wait took every thread (2 connections stopped a 1 x 2
receiver for good; 30 held a 3 x 4 one for 21 s and more). Here the worker's event loop,
which already waits on every idle connection, also reads each request (head and body,
the body capped at the receiver's limit) without blocking, and gives it to a thread with
all its bytes in the parser's buffer. A request not complete within
:data:`REQUEST_DEADLINE_S` is answered 408 and closed; one over the limits 413 or 431. A
stalled client then costs a file descriptor and a few bytes, never a thread.

Closing after a response lingers the same way: gunicorn half-closes and drains what the
client still sends for up to 2 s so the answer is not lost to a reset, but does it on the
event loop with a blocking read, during which the worker serves nothing; here it waits on
the event loop instead.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from gunicorn.errors import ConfigError
from gunicorn.http.message import DEFAULT_MAX_HEADERFIELD_SIZE
from gunicorn.workers.gthread import TConn, ThreadWorker

from webhook_receiver.context import MAX_BODY_BYTES
from webhook_receiver.framing import Limits, RequestRefused, RequestScanner
from webhook_receiver.responses import error_payload

REQUEST_DEADLINE_S = 10  # Jira's deliveries are a few KiB; a request still arriving is stalled
LINGER_S = 2.0  # as gunicorn's close_graceful: time for the client to read the answer
_READ_SIZE = 64 * 1024
_REASONS = {408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large"}


class _Conn(TConn):
    """A gthread connection whose graceful close lingers on the worker's event loop."""

    def __init__(self, linger: Callable[[_Conn], None], *args: Any) -> None:
        super().__init__(*args)
        self.linger = linger

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.linger(self)
        else:
            super().close()


@dataclass
class _Arriving:
    """A connection whose request is still arriving."""

    deadline: float
    scanner: RequestScanner
    data: bytearray
    registered: bool = False  # waiting on the event loop for more bytes
    continue_sent: bool = False


class ReadFirstWorker(ThreadWorker):
    """``worker_class`` of ``jira-pipeline receiver``; plain HTTP/1.1 only (TLS ends at the
    proxy)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        field_size = cfg.limit_request_field_size or DEFAULT_MAX_HEADERFIELD_SIZE
        headers = cfg.limit_request_fields * (field_size + 2) + 4  # gunicorn's header buffer
        self.limits = Limits(
            max_head=cfg.limit_request_line + 2 + headers,
            max_body=MAX_BODY_BYTES,
            max_chunk_line=field_size,
            max_trailers=headers,
        )
        # Both in deadline order: every deadline is "now + a constant" on insertion.
        self.arriving: dict[_Conn, _Arriving] = {}
        self.lingering: dict[_Conn, float] = {}

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or "h2" in cfg.http_protocols or cfg.http2_cleartext != "off":
            raise ConfigError("ReadFirstWorker serves plain HTTP/1.1: end TLS at the proxy")

    def accept(self, listener: socket.socket) -> None:
        """gthread's accept, with connections that linger on the event loop."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Conn(self._linger, self.cfg, client_sock, client_addr, listener.getsockname())
        self.enqueue_req(conn)

    # --- reading requests on the event loop -----------------------------------------------

    def enqueue_req(self, conn: _Conn) -> None:
        """gthread calls this for a new connection, a kept-alive one that became readable
        and one whose next request is already buffered: read the request here first."""
        buffered = conn.parser.unreader.take_buffered() if conn.parser else b""
        arriving = _Arriving(
            time.monotonic() + REQUEST_DEADLINE_S, RequestScanner(self.limits), bytearray(buffered)
        )
        self.arriving[conn] = arriving
        conn.sock.setblocking(False)
        if not (buffered and self._advance(conn, arriving)):
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
            arriving.registered = True

    def _on_readable(self, conn: _Conn, _sock: Any) -> None:
        try:
            chunk = conn.sock.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away mid-request: nothing to answer
            self._leave(conn)
            self.nr_conns -= 1
            TConn.close(conn)
            return
        arriving = self.arriving[conn]
        arriving.data += chunk
        self._advance(conn, arriving)

    def _advance(self, conn: _Conn, arriving: _Arriving) -> bool:
        """Hand the request to a thread if it is complete, refuse it if it can never be;
        True when the connection is no longer arriving."""
        try:
            end = arriving.scanner.end(arriving.data)
        except RequestRefused as refused:
            self._leave(conn)
            self._refuse(conn, refused.status, refused.message)
            return True
        if end is None:
            head = arriving.scanner.head
            waits = head and head.expects_continue and len(arriving.data) == head.end
            if waits and not arriving.continue_sent:  # the client waits for it to send a body
                arriving.continue_sent = True
                _send_now(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
            return False
        self._leave(conn)
        conn.data_ready = True  # gthread must not wait for more in the thread
        conn.init()  # the parser (no I/O for plain HTTP/1.1); makes the socket blocking
        conn.parser.unreader.unread(bytes(arriving.data))
        # Backstop: the thread reads from memory, but should gunicorn ever want a byte more
        # than the scanner found, that read too ends (EAGAIN, and the connection closes).
        timeout = struct.pack("ll", REQUEST_DEADLINE_S, 0)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        super().enqueue_req(conn)
        return True

    def _leave(self, conn: _Conn) -> _Arriving:
        arriving = self.arriving.pop(conn)
        if arriving.registered:
            self.poller.unregister(conn.sock)
        return arriving

    def _refuse(self, conn: _Conn, status: int, message: str) -> None:
        self.log.info("refused a request from %s: %s", _peer(conn), message)
        body = orjson.dumps(error_payload(message))
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        _send_now(conn.sock, head.encode() + body)
        self.nr_conns -= 1
        self._linger(conn)

    # --- closing without blocking the event loop -------------------------------------------

    def _linger(self, conn: _Conn) -> None:
        """Half-close, then drain what the client still sends until it closes or
        :data:`LINGER_S` passes, so the kernel does not reset the connection over unread
        bytes before the client read its answer (gunicorn's close_graceful, which blocks)."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            TConn.close(conn)
            return
        conn.sock.setblocking(False)
        self.lingering[conn] = time.monotonic() + LINGER_S
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_drain, conn))

    def _on_drain(self, conn: _Conn, _sock: Any) -> None:
        try:
            if conn.sock.recv(_READ_SIZE):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._end_linger(conn)

    def _end_linger(self, conn: _Conn) -> None:
        del self.lingering[conn]
        self.poller.unregister(conn.sock)
        TConn.close(conn)

    # --- deadlines (gthread calls murder_pending about once a second) ----------------------

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        while self.arriving:
            conn, arriving = next(iter(self.arriving.items()))
            if arriving.deadline > now:
                break
            self._leave(conn)
            if arriving.data:
                self._refuse(conn, 408, "request timeout")
            else:  # connected and never sent a byte: nothing to answer
                self.nr_conns -= 1
                TConn.close(conn)
        while self.lingering:
            conn, deadline = next(iter(self.lingering.items()))
            if deadline > now:
                break
            self._end_linger(conn)


def _send_now(sock: socket.socket, data: bytes) -> None:
    """Best effort without blocking: a short answer fits the socket's send buffer, and a
    client that stopped reading does not get to hold the event loop."""
    with contextlib.suppress(OSError):
        sock.send(data)


def _peer(conn: TConn) -> str:
    client = conn.client
    return f"{client[0]}:{client[1]}" if isinstance(client, tuple) else str(client)
