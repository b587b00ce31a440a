"""Jira's webhook signature: ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``.

Checked over the raw bytes before anything parses them, with a constant-time compare, so
unauthenticated input never reaches the JSON parser or the disk."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

SIGNATURE_HEADERS = ("X-Hub-Signature", "X-Hub-Signature-256")
# Jira accepts any secret; a shorter one can be guessed from one signed delivery offline.
MIN_SECRET_LENGTH = 16
_SIGNATURE = re.compile(r"(?:sha256=)?([0-9a-fA-F]{64})\Z", re.ASCII)


def sign_body(secret: str, body: bytes) -> str:
    """The header value Jira sends for ``body`` (the simulator's sender, tests and benchmarks sign with it)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(secret: str, body: bytes, header_values: Iterable[str | None]) -> bool:
    """True when one of the signature headers holds the HMAC of ``body`` (the ``sha256=``
    prefix is optional). Malformed values are simply not a match."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for value in header_values:
        match = _SIGNATURE.match(value.strip()) if value else None
        if match and hmac.compare_digest(expected, match.group(1).lower()):
            return True
    return False
