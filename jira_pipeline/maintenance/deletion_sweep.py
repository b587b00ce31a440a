"""Daily deletion sweep: Jira sends ``jira:issue_deleted`` once, and a lost one would leave
a ghost issue in the tables forever.

Per month with stored issues: search the month's keys in Jira (key and ``created`` only)
and compare with the stored ones. A stored issue missing from the search is deleted only
when a direct GET of it answers 404; an issue the GET still returns (moved out of
``JIRA_JQL``, or a search glitch) is kept, and any other error (403, 5xx) leaves it alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from jira_pipeline.ingest.search import search_month_keys
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.http import JiraAuthError
from jira_pipeline.orchestration.jira_lookups import issue_fields
from jira_pipeline.orchestration.stored_issues import stored_keys_by_month
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import is_stored_tombstone, tombstone_issue


@dataclass
class SweepSummary:
    months: int = 0
    checked: int = 0
    deleted: list[str] = field(default_factory=list)
    still_visible: list[str] = field(default_factory=list)  # not in search, GET works
    failed: dict[str, str] = field(default_factory=dict)  # key or month -> reason
    invalid_keys: list[str] = field(default_factory=list)  # in search results, skipped
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def sweep_deletions(jira: JiraClient, root: DataRoot, *, scope_jql: str = "") -> SweepSummary:
    """Tombstone stored issues Jira no longer has. The caller upserts ``deleted``."""
    summary = SweepSummary()
    start = jira.request_count
    for month, local in sorted(stored_keys_by_month(root).items()):
        summary.months += 1
        summary.checked += len(local)
        try:
            in_jira = set(search_month_keys(jira, month, scope_jql, summary.invalid_keys))
        except JiraAuthError:
            raise
        except Exception as exc:  # one month's search failing must not stop the others
            summary.failed[month] = str(exc)
            continue
        for key in sorted(local - in_jira):
            if is_stored_tombstone(root, key):
                continue
            try:
                if issue_fields(jira, key, "key") is not None:
                    summary.still_visible.append(key)
                elif tombstone_issue(root, key):
                    summary.deleted.append(key)
            except JiraAuthError:
                raise
            except Exception as exc:
                summary.failed[key] = str(exc)
    summary.requests = jira.request_count - start
    return summary
