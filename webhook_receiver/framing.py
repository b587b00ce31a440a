"""Where an HTTP/1.1 request ends in the bytes received so far.

The receiver's gunicorn worker (:mod:`webhook_receiver.worker`) reads each request on its
event loop and gives it to a thread only once all of it is in memory, so a client that
stops sending mid-request holds no thread. That needs the request's end without parsing
it: the head, then a body framed by ``Content-Length`` or chunked coding. gunicorn's parser
stays the judge of everything else; this module must only never call a request complete
before gunicorn has every byte it will read for it. Calling it complete at a head gunicorn
refuses (two lengths, a bare LF, an unknown coding) is fine: gunicorn answers 400 from
those bytes alone. Calling it complete later than needed only delays an answer.

A scanner resumes where its last call stopped, so a client trickling a request byte by
byte costs time linear in its size, not quadratic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = re.compile(rb"[0-9]+")
_BARE_LF = re.compile(rb"(?<!\r)\n")  # gunicorn refuses any line not ended by CRLF


@dataclass(frozen=True)
class Limits:
    """Bytes a request may take before it is refused, mirroring gunicorn's own limits."""

    max_head: int  # request line and header fields
    max_body: int  # decoded body (the receiver's MAX_BODY_BYTES)
    max_chunk_line: int  # a chunk-size line with its extensions
    max_trailers: int  # the trailer section after the last chunk

    @property
    def max_chunked(self) -> int:
        """Raw bytes of a chunked body: twice the decoded limit leaves room for any honest
        framing, and bounds one made of tiny chunks with long extensions."""
        return 2 * self.max_body + self.max_trailers


class RequestRefused(Exception):  # noqa: N818 - the request is refused, not in error
    """The request can never be served: answer ``status`` with ``message`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Head:
    end: int  # offset of the first body byte
    content_length: int | None
    chunked: bool
    expects_continue: bool
    refused_by_gunicorn: bool  # framing gunicorn rejects from the head alone


class RequestScanner:
    """Finds the end of the request at the start of one growing buffer. Call
    :meth:`end` with the whole buffer each time more bytes arrived."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.head: Head | None = None
        self._searched = 0  # the head or trailers were searched for their end up to here
        self._chunk = 0  # offset of the next chunk-size line
        self._decoded = 0  # body bytes in the chunks before it

    def end(self, data: bytes | bytearray) -> int | None:
        """Offset just past the request, or None while more must arrive. Raises
        :class:`RequestRefused` for a head or body over the limits."""
        if self.head is None:
            self.head = self._find_head(data)
            if self.head is None:
                return None
            self._chunk = self.head.end
        head = self.head
        if head.refused_by_gunicorn:
            return head.end
        if head.chunked:
            return self._chunked_end(data)
        length = head.content_length or 0
        if length > self.limits.max_body:
            raise RequestRefused(413, "request entity too large")
        return head.end + length if len(data) >= head.end + length else None

    def _find_head(self, data: bytes | bytearray) -> Head | None:
        start = 2 if data[:2] == b"\r\n" else 0  # one empty line before a request is allowed
        resume = max(start, self._searched - 3)
        end = data.find(b"\r\n\r\n", resume)
        if end < 0:
            self._searched = len(data)
            if _BARE_LF.search(data, max(start, resume - 1)):
                return Head(len(data), None, False, False, refused_by_gunicorn=True)
            if len(data) > self.limits.max_head:
                raise RequestRefused(431, "request header fields too large")
            return None
        return parse_head(bytes(data[start:end]), end + 4)

    def _chunked_end(self, data: bytes | bytearray) -> int | None:
        """Walk the chunks as gunicorn's ChunkedReader does; a malformed one ends the walk
        (gunicorn refuses it from the bytes up to there)."""
        if len(data) - self.head.end > self.limits.max_chunked:
            raise RequestRefused(413, "request entity too large")
        while True:
            position = self._chunk
            line_end = data.find(b"\r\n", position)
            if line_end < 0:
                too_long = len(data) - position > self.limits.max_chunk_line
                return len(data) if too_long else None
            size_text, semicolon, _ = bytes(data[position:line_end]).partition(b";")
            if semicolon:
                size_text = size_text.rstrip(b" \t")
            if not size_text or not _HEX.issuperset(size_text):
                return line_end + 2
            size = int(size_text, 16)
            if size == 0:
                return self._trailers_end(data, line_end + 2)
            if self._decoded + size > self.limits.max_body:
                raise RequestRefused(413, "request entity too large")
            data_end = line_end + 2 + size
            if len(data) < data_end + 2:
                return None
            if data[data_end:data_end + 2] != b"\r\n":
                return data_end + 2
            self._chunk, self._decoded = data_end + 2, self._decoded + size
            self._searched = self._chunk

    def _trailers_end(self, data: bytes | bytearray, position: int) -> int | None:
        if data[position:position + 2] == b"\r\n":
            return position + 2
        resume = max(position, self._searched - 3)
        end = data.find(b"\r\n\r\n", resume)
        if end >= 0:
            return end + 4
        self._searched = len(data)
        too_long = len(data) - position > self.limits.max_trailers
        return len(data) if too_long or _BARE_LF.search(data, max(position, resume - 1)) else None


def parse_head(head: bytes, end: int) -> Head:
    """The framing fields of a complete head (request line and fields, without the
    blank line); ``end`` is where its body starts in the buffer."""
    lines = head.split(b"\r\n")
    if any(b"\n" in line for line in lines):
        return Head(end, None, False, False, refused_by_gunicorn=True)
    lengths: list[bytes] = []
    codings: list[bytes] = []
    expects_continue = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.lower(), value.strip(b" \t")
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings += [coding.strip(b" \t").lower() for coding in value.split(b",")]
        elif name == b"expect":
            expects_continue = value.lower() == b"100-continue"
    expects_continue = expects_continue and lines[0].endswith(b" HTTP/1.1")
    if b"chunked" in codings:  # gunicorn may still refuse the mix; waiting is harmless
        return Head(end, None, True, expects_continue, refused_by_gunicorn=False)
    if codings or len(lengths) > 1 or (lengths and not _DIGITS.fullmatch(lengths[0])):
        return Head(end, None, False, False, refused_by_gunicorn=True)
    length = int(lengths[0]) if lengths else None
    return Head(end, length, False, expects_continue, refused_by_gunicorn=False)
