"""Reading issues in bulk: 100 issues per ``issue/bulkfetch``, the changelogs Jira caps at
40 entries completed by ``changelog/bulkfetch``, remote links only for issues whose
history shows a remote-link change the raw store has not seen (``RemoteIssueLink``), and
SLA records from the SLA field values (the API account's view when it shows them, else
the JSM account's bulk view). The stored record is the one the per-issue path stores.

Each endpoint works in its own thread pool (bulk reads, remote links, attachment files),
so a 429 storm on one endpoint holds only its own work. An issue Jira's bulk answer
leaves out (deleted, moved, no permission, ``issueErrors``) and every issue of a site
without the bulk endpoints (404/403, said once in the log) takes the per-issue path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tqdm import tqdm

from jira_pipeline.core.keys import require_issue_key
from jira_pipeline.ingest.runner import Outcomes, record_failure
from jira_pipeline.ingest.sla_overlay import SlaReader
from jira_pipeline.jira.client import (
    BULK_ISSUES,
    BulkUnavailable,
    JiraClient,
    changelog_is_capped,
    complete_changelog,
)
from jira_pipeline.jira.http import JiraAuthError
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import is_tombstone, load_issue

REMOTE_LINK_FIELD = "RemoteIssueLink"
READ_WORKERS = 4  # bulk reads in flight: each is 100 issues
MAX_ISSUES_WAITING_FOR_LINKS = 2000  # read issues held in memory while links are fetched
# Stored issues held in memory while their attachment files download. Bulk reads outrun
# downloads (100 issues a request against one file a request), so without this bound a
# 100,000-issue backfill held every read issue until its files came: 2 GiB after 25
# minutes and growing (measured); now the reads wait for the downloads instead.
MAX_ISSUES_WAITING_FOR_FILES = 500


def latest_remote_link_change(issue: dict[str, Any] | None) -> str | None:
    """Id of the newest history entry that added, changed or removed a remote link."""
    histories = ((issue or {}).get("changelog") or {}).get("histories") or []
    latest = None
    for history in histories:
        items = history.get("items") or [] if isinstance(history, dict) else []
        if any(isinstance(i, dict) and i.get("field") == REMOTE_LINK_FIELD for i in items):
            latest = str(history.get("id"))
    return latest


def known_remote_links(
    issue: dict[str, Any], stored: dict[str, Any] | None
) -> list[dict[str, Any]] | None:
    """The issue's remote links when no request is needed: ``[]`` when its (complete)
    history never touched remote links, the stored ones when the store has seen the
    newest change; ``None`` means ask Jira."""
    change = latest_remote_link_change(issue)
    if change is None:
        return []
    if stored is None or is_tombstone(stored) or "_remote_links" not in stored:
        return None
    return stored["_remote_links"] if latest_remote_link_change(stored) == change else None


class _Tasks:
    """Work spread over several pools, waited for as one: counts tasks still to finish,
    records each key's result or failure, stops everything on a 401."""

    def __init__(self, outcomes: Outcomes, bar: tqdm) -> None:
        self.outcomes, self.bar = outcomes, bar
        self.fatal: JiraAuthError | None = None
        self._open = 0
        self._done = threading.Condition()

    def spawn(self, pool: ThreadPoolExecutor, key: str, work: Callable[[], None]) -> None:
        with self._done:
            self._open += 1
        pool.submit(self._run, key, work)

    def _run(self, key: str, work: Callable[[], None]) -> None:
        try:
            self.attempt(key, work)
        finally:
            with self._done:
                self._open -= 1
                self._done.notify_all()

    def attempt(self, key: str, work: Callable[[], None]) -> None:
        """Run ``work`` for ``key`` now; a failure is recorded, a 401 stops the run."""
        try:
            work()
        except JiraAuthError as exc:
            self.fatal = exc
        except Exception as exc:  # one issue's failure must not stop the others
            self.failed([key], exc)

    def failed(self, keys: Iterable[str], exc: Exception) -> None:
        for key in keys:
            with self._done:
                record_failure(self.outcomes, key, exc)
            self.bar.update(1)

    def result(self, key: str, value: Any) -> None:
        with self._done:
            self.outcomes.results[key] = value
        self.bar.update(1)

    def wait(self) -> None:
        with self._done:
            self._done.wait_for(lambda: self._open == 0)
        if self.fatal is not None:
            raise self.fatal


def refresh_in_bulk(
    keys: Iterable[str],
    jira: JiraClient,
    sla: JsmSlaClient | None,
    root: DataRoot,
    *,
    per_issue: Callable[[str], Any],
    store: Callable[[str, dict, list | None, list | None], Any],
    attach: Callable[[str, dict, Any], Any] | None = None,
    recheck_links: bool = False,
    parallel: int = 8,
    progress: bool = False,
    max_waiting_for_files: int = MAX_ISSUES_WAITING_FOR_FILES,
) -> Outcomes:
    """Read ``keys`` in bulk; ``store(key, issue, remote_links, sla_records)`` writes one
    issue and returns its result, then ``attach(key, issue, result)`` (if given) syncs its
    files and returns the final result. ``per_issue(key)`` takes the keys the bulk answer
    leaves out. ``recheck_links`` asks for the remote links of every issue whose history
    has any (``--force``). At most ``max_waiting_for_files`` stored issues wait for their
    files at a time: past that, storing the next one waits."""
    outcomes: Outcomes = Outcomes()
    unique = []
    for key in dict.fromkeys(keys):
        try:
            unique.append(require_issue_key(key))
        except ValueError as exc:  # never reaches a request
            record_failure(outcomes, str(key), exc)
    if not unique:
        return outcomes
    slas = SlaReader(jira, sla, root)
    waiting = threading.BoundedSemaphore(MAX_ISSUES_WAITING_FOR_LINKS)
    waiting_for_files = threading.BoundedSemaphore(max(1, max_waiting_for_files))
    with (
        tqdm(total=len(unique), desc="issues", unit="issue", disable=not progress) as bar,
        ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="jira-bulk") as reads,
        ThreadPoolExecutor(max(1, parallel), thread_name_prefix="jira-links") as links,
        ThreadPoolExecutor(max(1, parallel), thread_name_prefix="jira-files") as files,
    ):
        tasks = _Tasks(outcomes, bar)

        def finish(key: str, issue: dict, remote: list | None, records: list | None) -> None:
            result = store(key, issue, remote, records)
            if attach is None or getattr(result, "status", None) != "fetched":
                tasks.result(key, result)
                return
            waiting_for_files.acquire()  # bounds the issues held while their files download

            def sync_files() -> None:
                try:
                    tasks.result(key, attach(key, issue, result))
                finally:
                    waiting_for_files.release()

            tasks.spawn(files, key, sync_files)

        def with_links(key: str, issue: dict, records: list | None) -> None:
            try:
                finish(key, issue, jira.get_remote_links(key), records)
            finally:
                waiting.release()

        def read(batch: list[str]) -> None:
            if tasks.fatal is not None:
                return
            wanted = set(batch)
            try:
                try:
                    issues = jira.bulk_fetch_issues(batch)
                except BulkUnavailable:
                    issues = []
                issues = [i for i in issues if i["key"] in wanted]
                complete_changelogs(jira, issues)
                records = slas.records(issues)
            except JiraAuthError:
                raise
            except Exception as exc:  # the whole batch failed; the next run retries it
                tasks.failed(batch, exc)
                return
            for key in sorted(wanted - {i["key"] for i in issues}):
                tasks.spawn(links, key, lambda key=key: tasks.result(key, per_issue(key)))
            for issue in issues:
                key = issue["key"]
                remote = [] if latest_remote_link_change(issue) is None else None
                if remote is None and not recheck_links:
                    remote = known_remote_links(issue, load_issue(root, key))
                if remote is not None:
                    tasks.attempt(
                        key,
                        lambda key=key, issue=issue, remote=remote: finish(
                            key, issue, remote, records[key]
                        ),
                    )
                    continue
                waiting.acquire()  # bounds the issues held while their links are read
                tasks.spawn(
                    links, key, lambda key=key, issue=issue: with_links(key, issue, records[key])
                )

        for offset in range(0, len(unique), BULK_ISSUES):
            batch = unique[offset : offset + BULK_ISSUES]
            tasks.spawn(reads, "", lambda batch=batch: read(batch))
        tasks.wait()
    return outcomes


def complete_changelogs(jira: JiraClient, issues: list[dict[str, Any]]) -> None:
    """Give every issue whose inline changelog Jira capped its complete history."""
    capped = [i for i in issues if changelog_is_capped(i)]
    if not capped:
        return
    try:
        histories = jira.bulk_changelogs([i["id"] for i in capped])
    except BulkUnavailable:
        histories = {i["id"]: jira.get_changelog(i["key"]) for i in capped}
    for issue in capped:
        complete_changelog(issue, histories.get(str(issue["id"])) or [])
