"""Attachment files of stored issues: fetch the missing ones, keep the ones already there
with the right size, skip (and report) the oversize ones, delete files of attachments
that are no longer on the issue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.ingest.runner import run_per_key
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.storage.atomic import atomic_path
from jira_pipeline.storage.locks import issue_lock
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import (
    attachment_path,
    is_tombstone,
    load_issue,
    remove_attachments_except,
)

DEFAULT_MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class DownloadResult:
    """One attachment: ``downloaded``, ``present`` (same size already on disk) or
    ``oversize`` (over the cap, not fetched)."""

    status: str
    path: Path
    size: int
    sha256: str | None = None


def download_attachment(
    jira: JiraClient,
    root: DataRoot,
    key: str,
    attachment: dict[str, Any],
    *,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> DownloadResult:
    """Store one attachment of ``key`` at ``attachments/KEY/ID_filename`` (temp file +
    atomic rename). Skips a file already there with the declared size, and anything over
    ``max_bytes``; a body of the wrong size is an error and leaves nothing behind."""
    target = attachment_path(root, key, attachment.get("id"), attachment.get("filename"))
    declared = int(attachment.get("size") or 0)
    if declared > max_bytes:
        return DownloadResult("oversize", target, declared)
    if target.is_file() and target.stat().st_size == declared:
        return DownloadResult("present", target, declared)
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        sha256 = jira.stream_attachment(attachment.get("id"), declared, handle)
    return DownloadResult("downloaded", target, declared, sha256)


@dataclass
class AttachmentCounts:
    """What happened to one issue's attachments."""

    downloaded: int = 0
    present: int = 0
    oversize: list[str] = field(default_factory=list)  # "KEY/ID filename (N bytes)"
    removed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: AttachmentCounts) -> None:
        self.downloaded += other.downloaded
        self.present += other.present
        self.oversize += other.oversize
        self.removed += other.removed
        self.errors += other.errors


@dataclass
class AttachmentSummary(AttachmentCounts):
    issues: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class AttachmentError(RuntimeError):
    """Some attachments of an issue could not be stored; the message lists them."""


def issue_attachments(issue: dict[str, Any] | None) -> list[dict[str, Any]]:
    fields = (issue or {}).get("fields") or {}
    return [a for a in fields.get("attachment") or [] if isinstance(a, dict)]


def attachments_complete(
    root: DataRoot, issue: dict[str, Any], *, max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
) -> bool:
    """True when every attachment under the cap is on disk with its declared size."""
    key = issue.get("key")
    for attachment in issue_attachments(issue):
        size = int(attachment.get("size") or 0)
        if size > max_bytes:
            continue
        try:
            path = attachment_path(root, key, attachment.get("id"), attachment.get("filename"))
        except ValueError:
            return False
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def sync_issue_attachments(
    key: str,
    issue: dict[str, Any],
    jira: JiraClient,
    root: DataRoot,
    *,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> AttachmentCounts:
    """Bring ``attachments/KEY/`` in line with ``issue``'s attachment list, under the
    issue's lock. Every attachment is tried; failures are collected in ``errors``."""
    require_issue_key(key)
    counts = AttachmentCounts()
    keep = []
    with issue_lock(root, key):
        for attachment in issue_attachments(issue):
            label = f"{key}/{attachment.get('id')!s:.20} {attachment.get('filename')!s:.80}"
            try:
                result = download_attachment(jira, root, key, attachment, max_bytes=max_bytes)
            except (RuntimeError, ValueError, OSError) as exc:
                counts.errors.append(f"{label}: {exc}")
                continue
            keep.append(result.path)
            if result.status == "downloaded":
                counts.downloaded += 1
            elif result.status == "present":
                counts.present += 1
            else:
                counts.oversize.append(f"{label} ({result.size} bytes)")
        if not counts.errors:
            counts.removed = len(remove_attachments_except(root, key, keep))
    return counts


def download_attachments(
    keys: Iterable[str],
    jira: JiraClient,
    root: DataRoot,
    *,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    parallel: int = 4,
    progress: bool = False,
) -> AttachmentSummary:
    """Sync the attachment files of the stored issues ``keys`` (tombstones are skipped:
    their files went with the tombstone)."""
    start = jira.request_count

    def step(key: str) -> AttachmentCounts:
        issue = load_issue(root, require_issue_key(key))
        if issue is None or is_tombstone(issue):
            return AttachmentCounts()
        counts = sync_issue_attachments(key, issue, jira, root, max_bytes=max_bytes)
        if counts.errors:
            raise AttachmentError("; ".join(counts.errors))
        return counts

    outcomes = run_per_key(keys, step, parallel=parallel, desc="attachments", progress=progress)
    summary = AttachmentSummary(issues=len(outcomes.results), failed=outcomes.failed)
    for counts in outcomes.results.values():
        summary.add(counts)
    summary.requests = jira.request_count - start
    return summary
