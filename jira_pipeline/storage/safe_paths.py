"""Containment for every path built from outside input (issue keys, event names,
attachment file names): the resolved path must stay under its root."""

from __future__ import annotations

import os
from pathlib import Path


class UnsafePathError(ValueError):
    """A path would leave its root (``..``, an absolute part, a symlink pointing out)."""


# root as given -> (its realpath, (st_dev, st_ino) of that directory when it was resolved).
# Bounded: per-issue attachment directories are roots too, and a backfill meets thousands.
_RESOLVED_ROOTS: dict[str, tuple[str, tuple[int, int]]] = {}
_RESOLVED_ROOTS_MAX = 256


def safe_join_under(root: str | os.PathLike[str], *parts: str) -> Path:
    """Join ``parts`` under ``root`` and prove, after resolving symlinks, that the result
    is still inside ``root``. Raises :class:`UnsafePathError` otherwise."""
    return Path(safe_join_under_str(root, *parts))


def safe_join_under_str(root: str | os.PathLike[str], *parts: str) -> str:
    """:func:`safe_join_under` as a plain string, for the per-delivery path of the receiver
    where building and re-stringifying a ``Path`` showed in profiles."""
    # os.path on strings, not pathlib. A symlink loop resolves to a path inside the root
    # that then fails to open (ELOOP); it never escapes.
    for part in parts:
        if not isinstance(part, str) or not part or "\x00" in part:
            raise UnsafePathError(f"unsafe path component: {part!r:.80}")
        if os.path.isabs(part):
            raise UnsafePathError(f"absolute path component: {part!r:.80}")
    root = os.fspath(root)
    fast = _join_plain_parts(root, parts)
    if fast is not None:
        return fast
    base = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(base, *parts))
    if candidate != base and not candidate.startswith(os.path.join(base, "")):
        raise UnsafePathError(f"path escapes {base}: {'/'.join(parts)!r:.120}")
    return candidate


def _join_plain_parts(root: str, parts: tuple[str, ...]) -> str | None:
    """The resolved join without walking every component of ``root`` again, or None when
    only the full walk can tell. Applies when each part is one plain name (no separator,
    not ``.`` or ``..``) and none of them is a symlink: then the result is the resolved
    root plus those names. The resolved root is remembered while ``root`` still leads to
    the same directory (one ``stat``), instead of an ``lstat`` per component on every
    call: the walk was ~30 syscalls of each webhook delivery."""
    if not parts or any("/" in part or part in (".", "..") for part in parts):
        return None
    try:
        status = os.stat(root)
    except OSError:
        return None  # missing root: the full walk resolves what exists
    identity = (status.st_dev, status.st_ino)
    known = _RESOLVED_ROOTS.get(root)
    if known is None or known[1] != identity:
        known = (os.path.realpath(root), identity)
        if len(_RESOLVED_ROOTS) >= _RESOLVED_ROOTS_MAX:
            _RESOLVED_ROOTS.clear()  # the hot roots come back on their next call
        _RESOLVED_ROOTS[root] = known
    candidate = known[0]
    for part in parts:
        candidate = f"{candidate}/{part}" if candidate != "/" else f"/{part}"
        if os.path.islink(candidate):
            return None  # where it points decides: the full walk checks it
    return candidate
