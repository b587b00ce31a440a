"""The pure parts of the HTTP layer: the shared rate budget, how long a 429 makes us wait,
and the JQL the ingest functions build."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from urllib3.response import HTTPResponse

from jira_pipeline.ingest.search import and_jql, created_between_jql, keys_jql, since_jql
from jira_pipeline.jira.http import (
    RATE_LIMIT_ENV,
    JiraRetry,
    RateBudget,
    RequestMeter,
    endpoint_of,
    shared_rate_budget,
    site_budgets,
)


def test_rate_budget_spaces_requests_across_threads() -> None:
    budget = RateBudget(40.0, burst=1)
    started = time.monotonic()

    def take_five() -> None:
        for _ in range(5):
            budget.acquire()

    threads = [threading.Thread(target=take_five) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 20 tokens, 1 in the bucket: the other 19 arrive at 40/s, so at least 19/40 s.
    assert time.monotonic() - started >= 19 / 40 - 0.02


def test_rate_budget_allows_a_burst_without_waiting() -> None:
    budget = RateBudget(5.0, burst=5)
    assert sum(budget.acquire() for _ in range(5)) == 0
    assert budget.acquire() > 0


def test_shared_budget_is_per_host_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    a = shared_rate_budget("https://site.example.net", 7.0)
    assert shared_rate_budget("https://SITE.example.net/", 7.0) is a
    assert shared_rate_budget("https://other.example.net", 7.0) is not a
    assert shared_rate_budget("https://site.example.net", 0) is None
    monkeypatch.setenv(RATE_LIMIT_ENV, "3.5")
    assert shared_rate_budget("https://site.example.net", None).rate_per_s == 3.5
    monkeypatch.setenv(RATE_LIMIT_ENV, "0")
    assert shared_rate_budget("https://site.example.net", None) is None


def test_budgets_are_per_method_and_endpoint_template() -> None:
    assert endpoint_of("get", "https://x.net/rest/api/3/issue/SUP-12/remotelink?a=1") == (
        "GET /rest/api/3/issue/{}/remotelink"
    )
    assert endpoint_of("GET", "/rest/api/3/attachment/content/80000123") == (
        "GET /rest/api/3/attachment/content/{}"
    )
    assert endpoint_of("POST", "/ex/jira/abc-123/rest/api/3/issue/bulkfetch") == (
        "POST /ex/jira/{}/rest/api/3/issue/bulkfetch"
    )
    budgets = site_budgets("https://per-endpoint.example.net", 9.0)
    assert site_budgets("https://PER-ENDPOINT.example.net", 9.0) is budgets
    links = budgets.for_request("GET", "/rest/api/3/issue/A-1/remotelink")
    assert budgets.for_request("GET", "/rest/api/3/issue/B-2/remotelink") is links
    assert budgets.for_request("GET", "/rest/api/3/attachment/content/5") is not links
    assert budgets.for_request("POST", "/rest/api/3/issue/bulkfetch") is not links
    assert site_budgets("https://per-endpoint.example.net", 0) is None


def response_with(headers: dict[str, str]) -> HTTPResponse:
    return HTTPResponse(body=b"", headers=headers, status=429, preload_content=False)


def test_retry_after_may_be_fractional_and_is_capped() -> None:
    retry = JiraRetry(retry_after_max=30)
    assert retry.get_retry_after(response_with({"Retry-After": "0.25"})) == 0.25
    assert retry.get_retry_after(response_with({"Retry-After": "7"})) == 7
    assert retry.get_retry_after(response_with({"Retry-After": "9000"})) == 30


def test_rate_limit_reset_is_understood_when_retry_after_is_absent() -> None:
    retry = JiraRetry(retry_after_max=60)
    soon = (datetime.now(UTC) + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    wait = retry.get_retry_after(response_with({"X-RateLimit-Reset": soon}))
    assert 8 < wait <= 10
    epoch = str(int(time.time()) + 5)
    assert 3 < retry.get_retry_after(response_with({"X-RateLimit-Reset": epoch})) <= 5
    assert retry.get_retry_after(response_with({"X-RateLimit-Reset": "2"})) == 2
    assert retry.get_retry_after(response_with({"X-RateLimit-Reset": "garbage"})) is None
    assert retry.get_retry_after(response_with({})) is None


def test_retry_copies_keep_their_meter_and_report_waits() -> None:
    meter = RequestMeter(budget=None)
    retry = JiraRetry(total=3, meter=meter).new(total=2)
    assert retry.meter is meter and retry.total == 2
    retry.sleep(response_with({"Retry-After": "0.05"}))
    assert meter.retries == 1 and meter.requests == 1 and meter.retry_wait_s >= 0.05


def test_created_bounds_are_jql_date_literals_and_months_are_checked() -> None:
    assert created_between_jql(date(2024, 12, 1), date(2025, 1, 1)) == (
        'created >= "2024-12-01 00:00" AND created < "2025-01-01 00:00"'
    )
    assert since_jql("2024-02", "project = SUPPORT") == (
        'project = SUPPORT AND created >= "2024-02-01 00:00"'
    )
    with pytest.raises(ValueError):
        since_jql("2024-13")


def test_and_jql_keeps_or_scopes_intact_and_moves_order_by_to_the_end() -> None:
    assert and_jql("project = A OR project = B ORDER BY created DESC", "", "key = A-1") == (
        "(project = A OR project = B) AND key = A-1 ORDER BY created DESC"
    )
    assert and_jql('summary ~ "this or that"', "key = A-1") == (
        'summary ~ "this or that" AND key = A-1'
    )
    assert and_jql("", "project = ENG") == "project = ENG"
    assert since_jql("2024-03", "order by key") == 'created >= "2024-03-01 00:00" order by key'


def test_keys_jql_refuses_anything_but_keys() -> None:
    assert keys_jql(["SUPPORT-1", "ENG-22"]) == "key in (SUPPORT-1, ENG-22)"
    with pytest.raises(ValueError):
        keys_jql(["SUPPORT-1) OR (project = SECRET"])
