"""Containment for every path built from outside input (issue keys, event names,
attachment file names): the resolved path must stay under its root."""

from __future__ import annotations

import os
from pathlib import Path


class UnsafePathError(ValueError):
    """A path would leave its root (``..``, an absolute part, a symlink pointing out)."""


def safe_join_under(root: str | os.PathLike[str], *parts: str) -> Path:
    """Join ``parts`` under ``root`` and prove, after resolving symlinks, that the result
    is still inside ``root``. Raises :class:`UnsafePathError` otherwise."""
    # os.path on strings, not pathlib: this runs twice per webhook delivery, and pathlib's
    # parsing cost as much as the symlink walk itself. A symlink loop resolves to a path
    # inside the root that then fails to open (ELOOP); it never escapes.
    base = os.path.realpath(root)
    for part in parts:
        if not isinstance(part, str) or not part or "\x00" in part:
            raise UnsafePathError(f"unsafe path component: {part!r:.80}")
        if os.path.isabs(part):
            raise UnsafePathError(f"absolute path component: {part!r:.80}")
    candidate = os.path.realpath(os.path.join(base, *parts))
    if candidate != base and not candidate.startswith(os.path.join(base, "")):
        raise UnsafePathError(f"path escapes {base}: {'/'.join(parts)!r:.120}")
    return Path(candidate)
