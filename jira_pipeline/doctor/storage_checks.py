"""Storage: the data root and dist dir writable by this user with the files' mode, and
disk room for the raw store the scope will need."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from jira_pipeline.doctor.check import Check, fail, ok, warn
from jira_pipeline.storage.atomic import FILE_MODE, atomic_write_bytes
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import iter_issue_files

# Used when the raw store is still empty: a typical JSM/software issue with its changelog,
# comments and remote links is 20-60 KB of JSON; attachments come on top (measured later).
DEFAULT_BYTES_PER_ISSUE = 64 * 1024
SAMPLE_FILES = 2000


def check_writable(setting: str, directory: Path) -> Check:
    """Create the directory if needed, write a probe file the way the pipeline writes
    (atomic, mode :data:`FILE_MODE`), read it back, remove it."""
    name = setting.lower().removeprefix("jira_").replace("_", " ")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".doctor-probe"
        atomic_write_bytes(probe, b"doctor")
        mode = stat.S_IMODE(probe.stat().st_mode)
        readable = probe.read_bytes() == b"doctor"
        probe.unlink()
    except OSError as exc:
        return fail(
            name,
            f"{setting} {directory} is not writable by this user ({exc.strerror}): fix its "
            f"owner/mode or point {setting} elsewhere",
        )
    if not readable or mode != FILE_MODE:
        return fail(name, f"{setting} {directory}: files come out {oct(mode)}, not {oct(FILE_MODE)}")
    if stat.S_IMODE(directory.stat().st_mode) & stat.S_IWOTH:
        return warn(name, f"{setting} {directory} is world-writable: chmod o-w it")
    return ok(name, f"{setting} {directory} writable, files written {oct(FILE_MODE)}")


def measured_bytes_per_issue(root: DataRoot) -> tuple[int, str]:
    """Average stored record per issue (a sample, in whatever layout the raw store holds
    it), plus attachments per issue, or the default when nothing is stored yet; and where
    the figure came from."""
    sizes, stored = [], 0
    try:
        for _, entry in iter_issue_files(root):
            stored += 1
            if len(sizes) < SAMPLE_FILES:
                sizes.append(entry.stat(follow_symlinks=False).st_size)
    except OSError:
        pass
    if not sizes:
        return DEFAULT_BYTES_PER_ISSUE, "default, nothing stored yet"
    attachments = sum(
        p.stat().st_size for p in root.attachments_dir.rglob("*") if p.is_file()
    ) if root.attachments_dir.is_dir() else 0
    return int(sum(sizes) / len(sizes) + attachments / stored), f"measured on {stored} stored issues"


def check_disk(root: DataRoot, issues_in_scope: int | None) -> Check:
    """Free disk vs the projected raw store (issues × bytes per issue)."""
    existing = root.root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if issues_in_scope is None:
        return warn("disk", f"{free / 2**30:.1f} GiB free; issues in scope unknown, no projection")
    per_issue, source = measured_bytes_per_issue(root)
    projected = issues_in_scope * per_issue
    text = (
        f"{free / 2**30:.1f} GiB free; raw store projected {projected / 2**30:.2f} GiB "
        f"({issues_in_scope} issues × {per_issue / 1024:.0f} KiB, {source})"
    )
    if free < projected:
        return fail("disk", f"{text}: free space or move JIRA_DATA_ROOT to a bigger disk")
    if free < projected * 2:  # Parquet, rebuilds and temp files need room too
        return warn("disk", f"{text}: less than twice the projection left")
    return ok("disk", text)
