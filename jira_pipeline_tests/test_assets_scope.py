"""The month run's plain bookkeeping: which link partners a webhook batch must rewrite too
(their issuelinks rows show the changed issue's summary, status and priority, and a deleted
issue's link), and how failures narrow the later steps."""

from __future__ import annotations

from jira_pipeline.orchestration.month_run import MonthScope, link_partners, stale_partners
from jira_pipeline.storage.raw_store import save_issue, tombstone_issue


def issue(key: str, summary: str, *links: tuple[str, str, str], comments: int = 0) -> dict:
    """``links``: (direction, partner key, the partner's summary as this issue shows it)."""
    return {
        "key": key,
        "fields": {
            "created": "2024-05-01T00:00:00.000+0000",
            "summary": summary,
            "status": {"name": "Open"},
            "comment": {"total": comments},
            "issuelinks": [
                {"id": str(n), direction: {"key": other, "fields": {
                    "summary": shown, "status": {"name": "Open"}}}}
                for n, (direction, other, shown) in enumerate(links)
            ],
        },
    }


def store(root, *issues: dict) -> None:
    for item in issues:
        save_issue(root, item, force=True)


def test_partners_are_stale_only_when_what_they_show_differs(data_root):
    store(
        data_root,
        issue("SUP-1", "Printer on fire", ("outwardIssue", "ENG-2", "Fix it"),
              ("inwardIssue", "SUP-3", "Same printer"), ("inwardIssue", "../x", "?")),
        issue("ENG-2", "Fix it", ("inwardIssue", "SUP-1", "Printer on fire")),
        issue("SUP-3", "Same printer", ("outwardIssue", "SUP-1", "Printer on fire")),
    )
    earlier = link_partners(data_root, ["SUP-1"])
    assert earlier == {"SUP-1": {"ENG-2", "SUP-3"}}
    store(data_root, issue("SUP-1", "Printer on fire", ("outwardIssue", "ENG-2", "Fix it"),
                           ("inwardIssue", "SUP-3", "Same printer"), comments=4))
    assert stale_partners(data_root, ["SUP-1"], earlier) == set()  # a comment: nothing shown

    # New summary, and the link to SUP-3 removed: both partners show SUP-1 wrongly now
    store(data_root, issue("SUP-1", "Printer fixed", ("outwardIssue", "ENG-2", "Fix it")))
    assert stale_partners(data_root, ["SUP-1"], earlier) == {"ENG-2", "SUP-3"}
    # Keys of the batch itself are never partners; unknown keys are ignored
    assert stale_partners(data_root, ["SUP-1", "ENG-2", "SUP-9"], earlier) == {"SUP-3"}

    # Once the partners are refetched (they show the new state), nothing is stale
    store(data_root, issue("ENG-2", "Fix it", ("inwardIssue", "SUP-1", "Printer fixed")),
          issue("SUP-3", "Same printer"))
    assert stale_partners(data_root, ["SUP-1"], earlier) == set()


def test_a_deleted_issue_keeps_its_partners_stale_until_they_are_refetched(data_root):
    """The retry of a run that failed while refetching partners (Jira down) still finds them:
    staleness is read from the raw store, not from what the failed attempt changed."""
    store(
        data_root,
        issue("ENG-27", "Broken", ("inwardIssue", "SUP-25", "Password reset")),
        issue("SUP-25", "Password reset", ("outwardIssue", "ENG-27", "Broken")),
    )
    tombstone_issue(data_root, "ENG-27")  # first attempt: fetched the 404, then failed
    assert stale_partners(data_root, ["ENG-27"]) == {"SUP-25"}  # the retry, no earlier view
    store(data_root, issue("SUP-25", "Password reset"))  # Jira dropped the link
    assert stale_partners(data_root, ["ENG-27"]) == set()


def test_scope_failures_narrow_later_steps():
    scope = MonthScope("2024-05", ("SUP-1", "SUP-2"), False, neighbour_keys=("ENG-7", "ENG-8"))
    scope = scope.with_failures({"SUP-2": "HTTP 500", "ENG-8": "timeout"})
    scope = scope.with_failures({"SUP-2": "a later reason"})
    assert scope.live_keys == ["SUP-1"]
    assert scope.table_keys == ["ENG-7", "SUP-1"]
    assert scope.failed == {"SUP-2": "HTTP 500", "ENG-8": "timeout"}  # first reason kept
