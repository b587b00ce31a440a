"""The request scanner of the receiver's worker finds where a request ends exactly where
gunicorn's own parser does, never before it: gunicorn, given only the bytes up to the
scanner's end, parses the whole request and body without asking for more."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import ChunkMissingTerminator, NoMoreData, ParseException
from gunicorn.http.parser import RequestParser
from hypothesis import given
from hypothesis import strategies as st

from webhook_receiver.framing import Limits, RequestRefused, RequestScanner

LIMITS = Limits(max_head=8192, max_body=1024, max_chunk_line=64, max_trailers=256)
HEAD = b"POST /webhooks/jira HTTP/1.1\r\nHost: receiver\r\n"
BODY = b'{"issue": {"key": "FRAME-1"}}'


class Source:
    """``raw`` as the only bytes a connection ever delivers; notes whether gunicorn asked
    for more."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.asked_for_more = False

    def __iter__(self) -> Iterator[bytes]:
        yield self.raw
        self.asked_for_more = True


def gunicorn_parse(source: Source) -> bytes:
    """The body gunicorn's parser reads from ``source`` (headers, then body to its end)."""
    request = next(RequestParser(Config(), iter(source), ("127.0.0.1", 1)))
    return request.body.read()


def chunked(pieces: list[bytes], extension: bytes = b"", trailers: bytes = b"") -> bytes:
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces if p)
    return body + b"0\r\n" + trailers + b"\r\n"


COMPLETE = {
    "no body": b"GET /webhooks/jira/health HTTP/1.1\r\nHost: receiver\r\n\r\n",
    "leading empty line": b"\r\n" + HEAD + b"Content-Length: 0\r\n\r\n",
    "content length": HEAD + b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    "odd case and spaces": HEAD + b"content-LENGTH:  %d \r\n\r\n%s" % (len(BODY), BODY),
    "expect continue": HEAD + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY),
    "chunked": HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked([BODY[:7], BODY[7:]]),
    "chunked, extensions, trailers": HEAD
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + chunked([BODY], b";name=value", b"X-Check: 1\r\n"),
}


@pytest.mark.parametrize("raw", COMPLETE.values(), ids=COMPLETE.keys())
def test_end_is_where_gunicorn_stops_and_no_prefix_is_complete(raw: bytes) -> None:
    complete, truncated = Source(raw), Source(raw[:-1])
    assert gunicorn_parse(complete) in (BODY, b"") and not complete.asked_for_more
    with contextlib.suppress(NoMoreData, ChunkMissingTerminator):
        gunicorn_parse(truncated)
    assert truncated.asked_for_more  # gunicorn does need the last byte
    assert RequestScanner(LIMITS).end(raw + b"GET / HTTP/1.1\r\n") == len(raw)  # pipelined
    growing = RequestScanner(LIMITS)  # as bytes arrive: one scanner, a longer buffer each time
    for size in range(len(raw)):
        assert RequestScanner(LIMITS).end(raw[:size]) is None, size
        assert growing.end(raw[:size]) is None, size
    assert growing.end(raw) == len(raw)


@given(
    pieces=st.lists(st.binary(max_size=40), max_size=6),
    extension=st.sampled_from([b"", b";a=b", b" ;x"]),
    trailers=st.sampled_from([b"", b"T: v\r\n", b"A: 1\r\nB: 2\r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_chunked_bodies_arriving_in_any_pieces(
    pieces: list[bytes], extension: bytes, trailers: bytes, cuts: list[int]
) -> None:
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(pieces, extension, trailers)
    source = Source(raw)
    assert gunicorn_parse(source) == b"".join(pieces) and not source.asked_for_more
    scanner = RequestScanner(LIMITS)
    for cut in sorted(c for c in cuts if c < len(raw)):
        assert scanner.end(raw[:cut]) is None
    assert scanner.end(raw) == len(raw)


REFUSED_BY_GUNICORN = {
    "two lengths": HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "signed length": HEAD + b"Content-Length: +5\r\n\r\n",
    "unknown coding": HEAD + b"Transfer-Encoding: gzip\r\n\r\n",
    "bare LF in the head": HEAD + b"Content-Length: 5\n\r\n\r\n",
    "bare LF before the end": b"POST / HTTP/1.1\nHost: x\n",
    "bad chunk size": HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    "chunk without its CRLF": HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
}


@pytest.mark.parametrize("raw", REFUSED_BY_GUNICORN.values(), ids=REFUSED_BY_GUNICORN.keys())
def test_heads_gunicorn_refuses_are_handed_over_at_once(raw: bytes) -> None:
    """gunicorn answers these 400 from the bytes it has: waiting would only delay it."""
    end = RequestScanner(LIMITS).end(raw)
    assert end is not None and end <= len(raw)
    source = Source(raw[:end])
    with pytest.raises(ParseException):
        gunicorn_parse(source)
    assert not source.asked_for_more


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (HEAD + b"Content-Length: 1025\r\n\r\n", 413),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"401\r\n", 413),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1;%s\r\nx\r\n" % (b"e" * 60) * 40, 413),
        (HEAD + b"X-Long: " + b"a" * 9000, 431),
    ],
    ids=["length over the limit", "chunk over the limit", "framing over twice the limit",
         "head over the limit"],
)
def test_requests_over_the_limits_are_refused_before_they_arrive(raw: bytes, status: int) -> None:
    with pytest.raises(RequestRefused) as refused:
        RequestScanner(LIMITS).end(raw)
    assert refused.value.status == status


def test_expect_continue_is_seen_only_on_http_1_1() -> None:
    scanner = RequestScanner(LIMITS)
    assert scanner.end(HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n") is None
    assert scanner.head is not None and scanner.head.expects_continue
    old = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    scanner = RequestScanner(LIMITS)
    assert scanner.end(old) is None and not scanner.head.expects_continue
