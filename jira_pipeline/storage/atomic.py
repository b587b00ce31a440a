"""Atomic file replacement: a reader sees the old file or the new one, never half of one.
Temp file in the same directory (same filesystem), fsync, ``os.replace``, fsync the dir.

For files that must never replace anything (one per webhook delivery), :func:`new_file`
writes a file before it has a name and :meth:`NewFile.link_as` names it with a hard link:
just as atomic, and the link fails when the name exists, so it doubles as a
create-if-absent claim."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

# Owner read-write, group read-only, others nothing, whatever the umask: the service group
# (receiver + Dagster) reads what the other wrote; files are replaced, never rewritten in
# place, so no one but the owner needs write. Readers see JIRA_DIST_DIR through its
# setgid group (docs/deploy.md).
FILE_MODE = 0o640
# Unnamed files need Linux's O_TMPFILE and /proc to link them; elsewhere a hidden temp
# name stands in
_O_TMPFILE = getattr(os, "O_TMPFILE", 0) if os.path.isdir("/proc/self/fd") else 0
# What a filesystem (NFS, older kernels) answers when it cannot make an unnamed file
_NO_TMPFILE_ERRNOS = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL})


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Persist a rename: the directory entry itself must reach the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _GroupFsync:
    """fsyncs of one directory, shared by the threads that ask at the same time."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._cond = threading.Condition()
        self._asked = 0  # requests so far, numbered 1, 2, …
        self._covered = 0  # every request up to this number has had its fsync
        self._running = False

    def sync(self) -> None:
        with self._cond:
            self._asked += 1
            ticket = self._asked
            while self._covered < ticket:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                covers = self._asked  # all made their change before this fsync starts
                self._cond.release()
                try:
                    fsync_dir(self.directory)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()  # on failure a waiter runs (and reports) its own
                self._covered = max(self._covered, covers)


_GROUP_FSYNCS: dict[str, _GroupFsync] = {}
_GROUP_FSYNCS_LOCK = threading.Lock()


def fsync_dir_shared(directory: str | os.PathLike[str]) -> None:
    """:func:`fsync_dir` for many threads of one process at once (group commit). Returns
    after an fsync of ``directory`` that started after the call, so every entry made before
    the call is durable; threads that ask while one fsync runs share the next one instead
    of each paying a device flush (ext4 without a journal does not batch them itself)."""
    directory = os.fspath(directory)
    group = _GROUP_FSYNCS.get(directory)
    if group is None:
        with _GROUP_FSYNCS_LOCK:
            group = _GROUP_FSYNCS.setdefault(directory, _GroupFsync(directory))
    group.sync()


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


class NewFile:
    """A fully written file that has no name yet (see :func:`new_file`)."""

    def __init__(self, fd: int, temp_name: str | None) -> None:
        self.fd = fd  # open read-write: callers may flock it
        self._temp_name = temp_name  # None for an O_TMPFILE file

    def link_as(self, target: str | os.PathLike[str], *, durable: bool = False) -> None:
        """Give the file the name ``target`` (its directory is created on first use): readers
        see all of it or nothing, and an existing ``target`` is never replaced
        (:class:`FileExistsError`). ``durable`` also fsyncs the directory (shared with other
        threads linking there: :func:`fsync_dir_shared`); if that fails the name is removed
        again, so the caller never leaves a name it could not persist."""
        target = os.fspath(target)
        directory = os.path.dirname(target) or "."
        try:
            self._link(target)
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
            self._link(target)
        if durable:
            try:
                fsync_dir_shared(directory)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(target)
                raise

    def _link(self, target: str) -> None:
        if self._temp_name is not None:
            os.link(self._temp_name, target)
            return
        # linkat(AT_SYMLINK_FOLLOW) of the fd's /proc magic link names the unnamed file.
        # os.link uses linkat only when given a dir fd (plain link() refuses /proc links);
        # the source path is absolute, so the kernel ignores which fd that is.
        os.link(f"/proc/self/fd/{self.fd}", target, src_dir_fd=self.fd)


@contextlib.contextmanager
def new_file(
    directory: str | os.PathLike[str], data: bytes, *, mode: int = FILE_MODE, durable: bool = True
) -> Iterator[NewFile]:
    """Write ``data`` to a new file in ``directory`` (created on first use) that has no name
    until :meth:`NewFile.link_as` gives it one or more; on exit only those links remain. With
    ``O_TMPFILE`` (Linux: ext4, xfs, tmpfs…) a crash at any point leaves nothing behind;
    elsewhere a hidden temp name is used and removed. ``durable`` fsyncs the data before
    any link is made, so no name ever points at data that a power cut could lose."""
    directory = os.fspath(directory)
    fd, temp_name = _open_unnamed(directory, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)  # the exact mode, whatever the umask
        if durable:
            os.fsync(fd)
        yield NewFile(fd, temp_name)
    finally:
        try:
            if temp_name is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_name)
        finally:
            os.close(fd)


def atomic_create_bytes(
    target: str | os.PathLike[str], data: bytes, *, mode: int = FILE_MODE, durable: bool = True
) -> None:
    """Create ``target`` holding ``data``, atomically; :class:`FileExistsError` if it exists
    (unlike :func:`atomic_write_bytes`, which replaces). Fewer steps than a temp name plus
    rename: the way to write files that are only ever created. Plain strings inside and no
    ``Path`` returned: it runs on every webhook delivery, where pathlib's parsing shows."""
    target = os.fspath(target)
    with new_file(os.path.dirname(target) or ".", data, mode=mode, durable=durable) as file:
        file.link_as(target, durable=durable)


def _open_unnamed(directory: str, mode: int) -> tuple[int, str | None]:
    """An unnamed file in ``directory`` (``O_TMPFILE``), else a hidden ``mkstemp`` one."""
    try:
        return _try_open_unnamed(directory, mode)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return _try_open_unnamed(directory, mode)


def _try_open_unnamed(directory: str, mode: int) -> tuple[int, str | None]:
    if _O_TMPFILE:
        try:
            return os.open(directory, _O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, mode), None
        except OSError as exc:
            if exc.errno not in _NO_TMPFILE_ERRNOS:
                raise
    return tempfile.mkstemp(prefix=".new.", suffix=".tmp", dir=directory)
