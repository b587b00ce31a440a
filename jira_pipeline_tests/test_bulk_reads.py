"""Bulk reads store exactly what the per-issue path stores, with far fewer requests; a
429 storm on one endpoint holds only that endpoint's work; sites without the bulk
endpoints fall back per issue."""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

import duckdb
import orjson
import pytest

from jira_pipeline.core.dates import month_of
from jira_pipeline.ingest import bulk
from jira_pipeline.ingest.attachments import attachments_complete
from jira_pipeline.ingest.bulk import READ_WORKERS, latest_remote_link_change
from jira_pipeline.ingest.fetch import IssueResult, refresh_issues, store_issue
from jira_pipeline.ingest.sla_overlay import overlay_sla
from jira_pipeline.jira.client import RetryPolicy
from jira_pipeline.maintenance.sla_poll import poll_candidates, poll_sla
from jira_pipeline.orchestration.month_run import fetch_month_issues, overlay_month_sla
from jira_pipeline.sandbox.simulator import SimulatedJira
from jira_pipeline.sandbox.simulator.server import Faults
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.raw_store import (
    iter_issue_keys,
    load_issue,
    save_field_list,
)
from jira_pipeline.transform.rebuild import rebuild_all
from jira_pipeline_tests.fixtures.ingest import clients_for, served_raw, stored_raw

STAMPS = ("_fetched_at", "_deleted_at")
TABLES = ("issues", "comments", "attachments", "changelog", "issuelinks", "remote_links")


def raw_records(root: DataRoot) -> dict[str, bytes]:
    """Every stored record serialised, its write time left out (the only difference a
    second fetch of the same site may make)."""
    records = {}
    for key in iter_issue_keys(root):
        issue = load_issue(root, key)
        assert issue is not None
        records[key] = orjson.dumps({k: v for k, v in issue.items() if k not in STAMPS})
    return records


def parquet_rows(root: DataRoot) -> dict[str, list[tuple]]:
    """Every table's rows read back with DuckDB (write time and file path aside)."""
    rows = {}
    for table in TABLES:
        files = sorted((root.parquet / table).glob("*.parquet"))
        if not files:
            rows[table] = []
            continue
        exclude = " EXCLUDE (_synced_at, _raw_file)" if table == "issues" else ""
        listing = ", ".join(f"'{f}'" for f in files)
        query = f"SELECT *{exclude} FROM read_parquet([{listing}]) ORDER BY ALL"
        rows[table] = duckdb.sql(query).fetchall()
    return rows


def tricky_site(api_sees_sla: bool) -> tuple[SimulatedJira, list[str], dict[str, str]]:
    """A small site with every case the bulk path must get right, and the keys a stale
    search would list for it."""
    sim = SimulatedJira(seed=5, issues=90, api_sees_sla=api_sees_sla)
    keys = sim.keys()
    huge = keys[3]
    for n in range(1005):  # more than 1,000 changelog entries
        sim.update_issue(huge, summary=f"Printer on fire, take {n}")
    churned = next(k for k in keys if not sim.remote_links(k))
    sim.add_remote_link(churned)
    sim.remove_remote_link(churned)  # added then removed: stored [] after one request
    moved = next(k for k in keys if k.startswith("SUPPORT-") and k not in (huge, churned))
    sim.move_issue(moved, "ENG")
    deleted = keys[-1]
    sim.delete_issue(deleted)  # listed by the search, gone when fetched
    sim.issue_error_keys = {keys[10]}  # the bulk answer lists it in issueErrors
    cases = {"huge": huge, "moved": moved, "deleted": deleted, "churned": churned}
    return sim, keys, cases


@pytest.mark.parametrize("api_sees_sla", [True, False], ids=["api-sla", "jsm-sla"])
def test_bulk_and_per_issue_paths_store_the_same_records_and_parquet(
    make_simulator, tmp_path: Path, api_sees_sla: bool
) -> None:
    stores, counts = {}, {}
    sim, keys, cases = tricky_site(api_sees_sla)  # one site: reads change nothing on it
    server = make_simulator(sim)
    for path in ("bulk", "per_issue"):
        server.reset_counts()
        root = DataRoot(tmp_path / path)
        jira, sla = clients_for(server, root)
        save_field_list(root, sim.fields())  # both stores map custom fields alike
        summary = refresh_issues(keys, jira, sla, root, parallel=4, bulk=path == "bulk")
        assert summary.ok, summary.failed
        assert {cases["deleted"], cases["moved"]} <= set(summary.deleted)
        rebuild_all(root, progress=False, workers=1)
        stores[path], counts[path] = root, server.path_counts

    bulk, per_issue = stores["bulk"], stores["per_issue"]
    assert raw_records(bulk) == raw_records(per_issue)
    assert parquet_rows(bulk) == parquet_rows(per_issue)
    assert parquet_rows(bulk)["changelog"]  # the comparison compared something
    huge = stored_raw(bulk, cases["huge"])
    assert huge["changelog"]["total"] == len(huge["changelog"]["histories"]) > 1000
    assert huge == served_raw(sim, cases["huge"])
    assert load_issue(bulk, cases["deleted"]) is None  # never stored: nothing to tombstone
    assert load_issue(bulk, cases["moved"]) is None
    new_key = sim.issue_json(cases["moved"])["key"]
    assert new_key != cases["moved"]
    assert stored_raw(bulk, new_key) == served_raw(sim, new_key)
    churned = stored_raw(bulk, cases["churned"])
    assert churned["_remote_links"] == [] and churned == served_raw(sim, cases["churned"])
    assert counts["bulk"]["issue_bulkfetch"] == 1  # 90 keys: one request
    assert counts["bulk"].get("issue", 0) == 3  # issueErrors, deleted, moved: one GET each
    assert sum(counts["bulk"].values()) < sum(counts["per_issue"].values()) / 2
    if api_sees_sla:  # empty SLA fields in a project that shows SLA values: no SLA
        assert "sla_issue_bulkfetch" not in counts["bulk"]
    else:
        assert counts["bulk"]["sla_issue_bulkfetch"] >= 1
    assert counts["bulk"].get("sla", 0) <= 3  # only issues the JSM view left out


def test_remote_links_are_read_only_when_the_history_shows_a_change(
    make_simulator, data_root: DataRoot
) -> None:
    server = make_simulator(issues=80)
    sim: SimulatedJira = server.jira
    jira, sla = clients_for(server, data_root)
    keys = sim.keys()
    with_links = [k for k in keys if sim.remote_links(k)]
    refresh_issues(keys, jira, sla, data_root, parallel=4)
    assert server.path_counts["remotelink"] == len(with_links)

    server.reset_counts()
    sim.update_issue(with_links[0], summary="No link change")
    sim.add_remote_link(keys[1])
    refresh_issues([with_links[0], keys[1]], jira, sla, data_root, parallel=4)
    assert server.path_counts["remotelink"] == 1  # keys[1] only: its history changed
    for key in (with_links[0], keys[1]):
        assert stored_raw(data_root, key) == served_raw(sim, key)


def test_a_site_without_bulk_endpoints_is_read_per_issue_and_says_so_once(
    make_simulator, data_root: DataRoot, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_simulator(issues=250, faults=Faults(bulk_status=404))
    sim: SimulatedJira = server.jira
    jira, sla = clients_for(server, data_root)
    with caplog.at_level(logging.WARNING, logger="jira_pipeline.jira.http"):
        summary = refresh_issues(sim.keys(), jira, sla, data_root, parallel=4)
    assert summary.ok and len(summary.fetched) == 250
    assert len([r for r in caplog.records if "one by one" in r.getMessage()]) == 1
    # asked once by each reader already in flight, then never again
    assert server.path_counts["issue_bulkfetch"] <= READ_WORKERS
    keys = sim.keys()
    assert all(stored_raw(data_root, k) == served_raw(sim, k) for k in keys)


def test_a_429_storm_on_remote_links_does_not_stall_the_other_endpoints(
    make_simulator, data_root: DataRoot
) -> None:
    """Remote links answer 429 (Retry-After 30, burst-based) until every other issue is
    stored and every attachment file written; only then does the storm end. A client
    whose other work waited behind the storm would never get there (the test would hit
    its deadline); nothing may be lost once the storm is over."""
    server = make_simulator(issues=120, faults=Faults(burst_routes={"remotelink": 30}))
    sim: SimulatedJira = server.jira
    keys = sim.keys()
    with_links = {k for k in keys if sim.remote_links(k)}
    others = [k for k in keys if k not in with_links]
    # Retry-After is honoured up to retry_after_max: short here, so the storm is retried
    # many times instead of sleeping 30 s; plenty of retries outlast it.
    storm_retry = RetryPolicy(total=10_000, backoff_factor=0.0, retry_after_max=0.05)
    jira, sla = clients_for(server, data_root, retry=storm_retry)
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(summary=refresh_issues(keys, jira, sla, data_root)),
        daemon=True,
    )
    worker.start()
    held = threading.Event()

    def others_done() -> bool:
        for key in others:
            issue = load_issue(data_root, key)
            if issue is None or not attachments_complete(data_root, issue):
                return False
        return True

    def storm_held_others_done() -> bool:
        # Remote-link reads run beside the others, not before them: when the last other
        # issue is stored, some link reads may not have been sent yet. Wait for both
        # (the storm keeps refusing, so the count only grows) instead of assuming an order.
        return others_done() and server.path_counts.get("remotelink", 0) >= len(with_links)

    try:
        waited = 0
        while not held.is_set() and waited < 600 and worker.is_alive():
            if storm_held_others_done():
                held.set()
            else:
                held.wait(0.1)
                waited += 1
        assert held.is_set(), "other endpoints stalled behind the remote-link storm"
        assert not any(load_issue(data_root, k) for k in with_links)  # held, not half-stored
    finally:
        server.faults.burst_routes = {}  # the storm ends (also when an assertion failed:
        worker.join(timeout=120)  # no thread left retrying against a stopped simulator)
    assert not worker.is_alive()
    summary = result["summary"]
    assert summary.ok and sorted(summary.fetched) == sorted(keys)
    assert all(stored_raw(data_root, k) == served_raw(sim, k) for k in keys)


def test_storing_waits_while_the_bound_of_issues_awaiting_their_files_is_reached(
    make_simulator, data_root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bulk reads outrun attachment downloads; the issues stored but still waiting for
    their files are bounded, so a large backfill's memory does not grow with the site.
    Every file sync is held until storing has to wait for a free slot: that moment must
    come, with at most the bound plus one issue per reader thread stored. (An unbounded
    client never waits: the syncs would never be let go.)"""
    bound = 3
    server = make_simulator(issues=300)
    sim: SimulatedJira = server.jira
    # Issues whose history never touched remote links: stored by the reader threads
    # themselves, no remote-link reads in between.
    keys = [k for k in sim.keys()  # noqa: SIM118 (a site, not a dict)
            if latest_remote_link_change(served_raw(sim, k)) is None]
    jira, sla = clients_for(server, data_root)
    lock = threading.Condition()
    counts = {"stored": 0, "stored_when_full": None}
    full = threading.Event()
    plain = threading.BoundedSemaphore

    class ObservedSlots(plain):
        def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
            if super().acquire(blocking=False):
                return True
            with lock:
                if not full.is_set():
                    counts["stored_when_full"] = counts["stored"]
                    full.set()
            return super().acquire(blocking, timeout)

    # Only the files' slots (sized ``bound``) are observed; other semaphores stay plain.
    monkeypatch.setattr(bulk.threading, "BoundedSemaphore",
                        lambda value=1: ObservedSlots(value) if value == bound else plain(value))

    def store(key, issue, links, records) -> IssueResult:
        result = store_issue(data_root, issue, links, records)
        with lock:
            counts["stored"] += 1
        return result

    gave_up = threading.Event()

    def attach(key, issue, result) -> IssueResult:
        if not full.wait(timeout=0 if gave_up.is_set() else 60):
            gave_up.set()  # the others fail at once
            raise AssertionError("storing never waited for a file slot")
        return result

    outcomes = bulk.refresh_in_bulk(keys, jira, sla, data_root, per_issue=lambda key: None,
                                    store=store, attach=attach, parallel=8,
                                    max_waiting_for_files=bound)
    assert not outcomes.failed
    assert sorted(outcomes.results) == sorted(keys) and len(keys) > 10 * bound
    assert full.is_set()
    assert counts["stored_when_full"] <= bound + bulk.READ_WORKERS


def test_overlay_sla_reads_slas_in_bulk(make_simulator, data_root: DataRoot) -> None:
    server = make_simulator(jira=SimulatedJira(seed=2, issues=200, api_sees_sla=False))
    sim: SimulatedJira = server.jira
    jira, sla = clients_for(server, data_root)
    keys = sim.keys()
    save_field_list(data_root, jira.get_fields())  # as month runs do first
    refresh_issues(keys, jira, None, data_root, parallel=4)  # no SLA account yet
    server.reset_counts()
    summary = overlay_sla(keys, sla, data_root)
    assert summary.ok and summary.overlaid
    assert server.path_counts.get("sla", 0) == 0
    assert server.path_counts["sla_issue_bulkfetch"] <= len(keys) // 100 + 1
    assert all(stored_raw(data_root, k) == served_raw(sim, k) for k in keys)


def test_poll_sla_reads_open_tickets_100_per_request(make_simulator, data_root: DataRoot) -> None:
    server = make_simulator(jira=SimulatedJira(seed=4, issues=600, api_sees_sla=False))
    sim: SimulatedJira = server.jira
    jira, sla = clients_for(server, data_root)
    assert refresh_issues(sim.keys(), jira, sla, data_root, parallel=4).ok
    candidates = poll_candidates(data_root)
    assert len(candidates) > 40
    server.reset_counts()
    summary = poll_sla(jira, sla, data_root)
    assert summary.ok and summary.changed_keys == []
    assert server.path_counts == {"sla_issue_bulkfetch": math.ceil(len(candidates) / 100)}
    assert summary.requests <= 0.05 * len(candidates)


def test_a_burst_of_1000_webhooks_over_12_months_costs_a_few_dozen_requests(
    make_simulator, data_root: DataRoot
) -> None:
    site = SimulatedJira(seed=6, issues=1100, start_month="2024-01", months=12)
    server = make_simulator(site)
    jira, sla = clients_for(server, data_root)
    assert refresh_issues(site.keys(), jira, sla, data_root, parallel=8).ok  # the backfill
    changed = site.keys()[:1000]
    for n, key in enumerate(changed):  # 1,000 issue_updated webhooks
        site.update_issue(key, summary=f"Escalated #{n}")
    by_month: dict[str, list[str]] = {}
    for key in changed:
        by_month.setdefault(month_of(site.issue_json(key)["fields"]["created"]), []).append(key)
    assert len(by_month) >= 12
    server.reset_counts()
    for month, keys in sorted(by_month.items()):
        scope, fetched, _ = fetch_month_issues(month, keys, jira, data_root)
        assert fetched.ok and sorted(fetched.fetched) == sorted(keys)
        assert overlay_month_sla(scope, sla, data_root)[1].ok
    used = sum(server.path_counts.values())
    assert used <= 60, server.path_counts  # a few dozen, not ~3,400
    assert "remotelink" not in server.path_counts  # no remote-link change in the burst
    assert all(stored_raw(data_root, k) == served_raw(site, k) for k in changed)
