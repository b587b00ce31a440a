"""Atomic file replacement: a reader sees the old file or the new one, never half of one.
Temp file in the same directory (same filesystem), fsync, ``os.replace``, fsync the dir."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

FILE_MODE = 0o660  # group-readable/writable so shared-group ACLs keep working


def fsync_dir(directory: Path) -> None:
    """Persist a rename: the directory entry itself must reach the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(target: Path) -> tuple[int, str]:
    """An exclusive temp file in ``target``'s directory (created on first use)."""
    try:
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str], *, mode: int = FILE_MODE, durable: bool = True
) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on clean exit it replaces ``target`` atomically,
    on an exception it is removed and ``target`` is untouched. For writers (pyarrow) that
    want a path rather than bytes. ``durable=False`` skips both fsyncs: readers still never
    see half a file, but a power cut may lose it (for copies whose loss costs nothing)."""
    target = Path(target)
    fd, tmp_name = _temp_beside(target)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(target.parent)


def atomic_write_bytes(
    target: str | os.PathLike[str], data: bytes, *, mode: int = FILE_MODE, durable: bool = True
) -> Path:
    """Write ``data`` to ``target`` atomically and (unless ``durable=False``) durably.
    Same steps as :func:`atomic_path` on the one descriptor ``mkstemp`` opened: it runs on
    every webhook delivery, where each extra open and close shows."""
    target = Path(target)
    fd, tmp_name = _temp_beside(target)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if durable:
        fsync_dir(target.parent)
    return target


def atomic_write_json(target: str | os.PathLike[str], obj: Any, **kwargs: Any) -> Path:
    """Serialise ``obj`` (orjson, pretty enough to diff) and write it atomically."""
    return atomic_write_bytes(target, orjson.dumps(obj, option=orjson.OPT_INDENT_2), **kwargs)
