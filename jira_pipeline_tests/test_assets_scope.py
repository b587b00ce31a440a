"""The month run's plain bookkeeping: which link partners a webhook batch must rewrite too
(their issuelinks rows show the changed issue's summary, status and priority), and how
failures narrow the later steps."""

from __future__ import annotations

from jira_pipeline.orchestration.month_run import MonthScope, partner_view, stale_partners
from jira_pipeline.storage.raw_store import load_issue, save_issue, tombstone_issue


def issue(key: str, summary: str, *links: tuple[str, str], comments: int = 0) -> dict:
    return {
        "key": key,
        "fields": {
            "created": "2024-05-01T00:00:00.000+0000",
            "summary": summary,
            "status": {"name": "Open"},
            "comment": {"total": comments},
            "issuelinks": [{"id": str(n), direction: {"key": other}}
                           for n, (direction, other) in enumerate(links)],
        },
    }


def views(root, *keys):
    return {key: partner_view(load_issue(root, key)) for key in keys}


def test_partners_are_stale_only_when_what_they_show_changed(data_root):
    links = (("outwardIssue", "ENG-2"), ("inwardIssue", "SUP-3"), ("inwardIssue", "../x"))
    save_issue(data_root, issue("SUP-1", "Printer on fire", *links), force=True)
    before = views(data_root, "SUP-1")
    save_issue(data_root, issue("SUP-1", "Printer on fire", *links, comments=4), force=True)
    assert stale_partners(data_root, before, ["SUP-1"]) == set()  # a comment: nothing shown

    save_issue(data_root, issue("SUP-1", "Printer fixed", links[0]), force=True)
    assert stale_partners(data_root, before, ["SUP-1"]) == {"ENG-2", "SUP-3"}  # old and new

    before = views(data_root, "SUP-1", "SUP-9")
    tombstone_issue(data_root, "SUP-1")
    assert stale_partners(data_root, before, ["SUP-1", "SUP-9"]) == {"ENG-2"}


def test_scope_failures_narrow_later_steps():
    scope = MonthScope("2024-05", ("SUP-1", "SUP-2"), False, neighbour_keys=("ENG-7", "ENG-8"))
    scope = scope.with_failures({"SUP-2": "HTTP 500", "ENG-8": "timeout"})
    scope = scope.with_failures({"SUP-2": "a later reason"})
    assert scope.live_keys == ["SUP-1"]
    assert scope.table_keys == ["ENG-7", "SUP-1"]
    assert scope.failed == {"SUP-2": "HTTP 500", "ENG-8": "timeout"}  # first reason kept
