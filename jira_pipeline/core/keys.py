"""Issue keys and ids are attacker-controlled: they are checked here, once, before any
path or URL is built from them."""

from __future__ import annotations

import re

# Project keys as Jira's key-format rules allow them: a letter, then letters, digits or
# underscores (``MY_PROJ-7``). ASCII only: no \d (it matches Arabic-Indic and other digits),
# \Z not $ (which admits "\n").
_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,31}-[0-9]{1,12}\Z", re.ASCII)
_ISSUE_ID = re.compile(r"[0-9]{1,18}\Z", re.ASCII)


def is_valid_issue_key(value: object) -> bool:
    """True for a Jira issue key such as ``SUPPORT-123`` and nothing else."""
    return type(value) is str and _ISSUE_KEY.match(value) is not None


def is_valid_issue_id(value: object) -> bool:
    """True for a numeric issue id (``"10002"`` or ``10002``), at most 18 ASCII digits."""
    if type(value) is int:
        value = str(value) if value >= 0 else ""
    return type(value) is str and _ISSUE_ID.match(value) is not None


def require_issue_key(value: object) -> str:
    """Return ``value`` if it is a valid key; raise ``ValueError`` otherwise."""
    if not is_valid_issue_key(value):
        raise ValueError(f"invalid Jira issue key: {value!r:.80}")
    return value  # type: ignore[return-value]
