"""How one raw issue record is kept on disk: compact orjson in one zstd frame (a standard
``.zst`` file: ``zstd -dc FILE`` prints it; ``jira-pipeline raw show KEY`` too).

A simulated issue with renderedFields and changelog is ~46 KB as indented JSON and ~6 KB
on disk like this, and decompressing costs less than parsing. Records written before this
format (plain JSON, indented) are read as they are: the first bytes tell which is which.

``fields.created`` is written as the first key of ``fields``. It is also written, with
whether the record is a tombstone, as a small JSON object in a zstd skippable frame before
the record's frame (``RECORD_HEADER``; ``zstd -dc`` skips it): the rebuild groups a cold
store by month, and the month checks tell tombstones, from each file's first bytes without
decompressing it (decompressing every record twice, once to group and once to build,
made the rebuild ~17% slower per issue than plain JSON)."""

from __future__ import annotations

import functools
import threading
from typing import Any

import orjson

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A skippable frame (RFC 8878 §3.1.2, magic 0x184D2A5?, 4-byte size, payload) holding
# ``{"created": fields.created, "deleted": true}`` (keys only when they apply): read
# without decompressing anything.
RECORD_HEADER = b"\x50\x2a\x4d\x18"
HEADER_READ_BYTES = 256  # enough of a file to hold its whole header
_MAX_HEADER_PAYLOAD = HEADER_READ_BYTES - 8
COMPRESSION_LEVEL = 3  # higher levels save ~10% more bytes for 2-3x the CPU per write
CREATED_FIRST = b'"fields":{"created":"'  # how encode_record starts the top-level fields
MAX_RECORD_BYTES = 1 << 30  # a frame claiming more is corrupt, not an issue


class UnreadableRecord(ValueError):
    """The stored bytes are not a record this store wrote (corrupt or truncated frame)."""


def encode_record(record: dict[str, Any]) -> bytes:
    """The bytes stored for ``record`` (same record → same bytes)."""
    fields = record.get("fields")
    facts: dict[str, Any] = {}
    if isinstance(fields, dict) and "created" in fields:
        record = {**record, "fields": {"created": fields["created"], **fields}}
        if isinstance(fields["created"], str):
            facts["created"] = fields["created"]
    if record.get("_deleted_at"):
        facts["deleted"] = True
    payload = orjson.dumps(facts)
    header = b""
    if len(payload) <= _MAX_HEADER_PAYLOAD:
        header = RECORD_HEADER + len(payload).to_bytes(4, "little") + payload
    return header + _codec().compress(orjson.dumps(record), asbytes=True)


def is_compressed(data: bytes) -> bool:
    """Whether stored bytes are this format (zstd frames) rather than plain JSON."""
    return data.startswith(ZSTD_MAGIC) or data.startswith(RECORD_HEADER)


def record_header(data: bytes) -> dict[str, Any] | None:
    """The header facts of stored bytes (their first ``HEADER_READ_BYTES`` suffice):
    ``created`` (absent: the record has none), ``deleted`` (a tombstone); ``None`` when
    the bytes have no header (plain JSON, records written before the header)."""
    if not data.startswith(RECORD_HEADER) or len(data) < 8:
        return None
    size = int.from_bytes(data[4:8], "little")
    if size > _MAX_HEADER_PAYLOAD or len(data) < 8 + size:
        return None
    try:
        facts = orjson.loads(data[8:8 + size])
    except orjson.JSONDecodeError:
        return None
    return facts if isinstance(facts, dict) else None


def _without_header(data: bytes) -> bytes:
    """The zstd frame of stored bytes, after the skippable ``RECORD_HEADER`` frame."""
    if not data.startswith(RECORD_HEADER):
        return data
    if len(data) < 8:
        raise UnreadableRecord("truncated zstd frame")
    return data[8 + int.from_bytes(data[4:8], "little"):]


def record_json(data: bytes) -> bytes:
    """The JSON text of stored bytes: a zstd frame is decompressed, plain JSON (the
    format before compression) is returned as it is."""
    if not is_compressed(data):
        return data
    data = _without_header(data)
    if not data.startswith(ZSTD_MAGIC):
        raise UnreadableRecord("no zstd frame after the header")
    size = _content_size(data)
    try:
        if size is None:
            return _decompress_unsized(data)
        return _decompressor().decompress(data)
    except Exception as exc:  # zstandard (ZstdError) and pyarrow raise their own kinds
        raise UnreadableRecord(f"corrupt zstd frame: {str(exc)[:120]}") from None


def _content_size(frame: bytes) -> int | None:
    """The decompressed size written in a zstd frame header (RFC 8878 §3.1.1.1), or None
    when the writer left it out (a streaming compressor)."""
    if len(frame) < 6:
        raise UnreadableRecord("truncated zstd frame")
    descriptor = frame[4]
    single_segment = descriptor >> 5 & 1
    start = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    width = (single_segment, 2, 4, 8)[descriptor >> 6]
    if width == 0:
        return None
    if len(frame) < start + width:
        raise UnreadableRecord("truncated zstd frame")
    size = int.from_bytes(frame[start:start + width], "little") + (256 if width == 2 else 0)
    if size > MAX_RECORD_BYTES:
        raise UnreadableRecord(f"zstd frame claims {size} bytes")
    return size


def _decompress_unsized(data: bytes) -> bytes:
    import pyarrow as pa

    with pa.CompressedInputStream(pa.BufferReader(data), "zstd") as stream:
        out = stream.read(MAX_RECORD_BYTES + 1)
    if len(out) > MAX_RECORD_BYTES:
        raise UnreadableRecord("zstd frame too large")
    return out


def _decompressor() -> Any:
    """This thread's zstd decompression context, kept: pyarrow's codec makes a new one for
    every record (33 us to decompress a simulated issue against 14 us with a kept one,
    measured; a rebuild decompresses every record). One per thread: a context must not
    be shared by threads, and fetches read the raw store from several."""
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        import zstandard

        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


_local = threading.local()


@functools.cache
def _codec() -> Any:
    """pyarrow's zstd (already a dependency; imported on first use, so the receiver,
    which never reads raw records, does not pay for the import)."""
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=COMPRESSION_LEVEL)
