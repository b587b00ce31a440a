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
    base = Path(root).resolve()
    for part in parts:
        if not isinstance(part, str) or not part or "\x00" in part:
            raise UnsafePathError(f"unsafe path component: {part!r:.80}")
        if os.path.isabs(part):
            raise UnsafePathError(f"absolute path component: {part!r:.80}")
    candidate = base.joinpath(*parts).resolve()
    if candidate != base and base not in candidate.parents:
        raise UnsafePathError(f"path escapes {base}: {'/'.join(parts)!r:.120}")
    return candidate
