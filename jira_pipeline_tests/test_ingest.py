"""Ingestion end to end over loopback HTTP against the simulator: backfill (complete,
idempotent, resumable after SIGKILL, unbothered by 429s and 503s), truncated bodies,
tombstones, the SLA overlay, attachments, SLA polling and the two commands."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from jira_pipeline.cli import main as cli_main
from jira_pipeline.core.dates import month_of
from jira_pipeline.ingest import (
    backfill,
    download_attachments,
    fetch_issues,
    overlay_sla,
    refresh_issues,
    resolve_issue_ids,
    search_month_keys,
)
from jira_pipeline.jira.http import JiraAuthError
from jira_pipeline.maintenance.sla_poll import poll_sla
from jira_pipeline.sandbox.simulator import Faults, SimulatedJira
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.auth_state import read_auth_state
from jira_pipeline.storage.raw_format import record_json
from jira_pipeline.storage.raw_store import (
    attachment_path,
    is_tombstone,
    iter_issue_keys,
    load_issue,
    patch_issue,
)
from jira_pipeline_tests.fixtures.common import PROJECT_ROOT
from jira_pipeline_tests.fixtures.ingest import clients_for, served_raw, stored_raw

SCOPE = "project in (SUPPORT, ENG)"
CAP = 50 * 1024 * 1024


def assert_store_matches(sim: SimulatedJira, root: DataRoot, *, check_bytes: bool) -> None:
    """Every live issue is stored exactly as served, with every attachment under the cap."""
    keys = sim.keys()
    assert sorted(iter_issue_keys(root)) == sorted(keys)
    for key in keys:
        expected = served_raw(sim, key)
        assert stored_raw(root, key) == expected, key
        wanted = set()
        for attachment in expected["fields"]["attachment"]:
            path = attachment_path(root, key, attachment["id"], attachment["filename"])
            if attachment["size"] > CAP:
                assert not path.exists()
                continue
            wanted.add(path.name)
            assert path.stat().st_size == attachment["size"]
            if check_bytes:
                digest = hashlib.sha256(sim.attachment_bytes(attachment["id"])).hexdigest()
                assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
        folder = root.issue_attachments_dir(key)
        present = {p.name for p in folder.iterdir()} if folder.exists() else set()
        assert present == wanted, key


def test_backfill_of_1000_issues_equals_the_site_and_a_second_run_fetches_nothing(
    make_simulator, data_root: DataRoot
) -> None:
    server = make_simulator(issues=1000)
    server.expect_concurrency("remotelink", parties=4)  # held until 4 link reads wait at once
    jira, sla = clients_for(server, data_root)
    summary = backfill(jira, sla, data_root, jql=SCOPE, parallel=16, progress=False)
    assert summary.ok, summary.lines()
    assert summary.found == len(summary.fetched) == 1000
    assert summary.attachments.downloaded > 500 and len(summary.attachments.oversize) >= 20
    assert server.concurrency_met  # really parallel
    assert_store_matches(server.jira, data_root, check_bytes=True)

    before = server.path_counts
    again = backfill(jira, sla, data_root, jql=SCOPE, parallel=16, progress=False)
    assert again.ok and again.fetched == [] and len(again.skipped) == 1000
    after = server.path_counts
    used = {route for route in after if after[route] != before.get(route, 0)}
    assert used == {"search"}  # no issue, link, SLA or attachment request
    assert again.requests == after["search"] - before["search"] >= 1


def test_backfill_with_429s_and_503s_completes_and_honours_retry_after(
    make_simulator, data_root: DataRoot
) -> None:
    faults = Faults(rate_limit_every=10, retry_after_s=0.1, error_rate=0.05)
    server = make_simulator(issues=1000, faults=faults, fault_seed=3)
    jira, sla = clients_for(server, data_root)
    summary = backfill(jira, sla, data_root, jql=SCOPE, parallel=16, progress=False)
    assert summary.ok, summary.lines()
    assert len(summary.fetched) == summary.found == 1000
    refused = server.request_count // 10  # every 10th request was a 429
    retries = jira.meter.retries + sla.meter.retries
    waited = jira.meter.retry_wait_s + sla.meter.retry_wait_s
    assert refused >= 100 and retries >= refused
    assert waited >= refused * faults.retry_after_s  # each 429 waited its Retry-After
    assert_store_matches(server.jira, data_root, check_bytes=False)


def test_truncated_bodies_fail_their_issue_clearly_and_the_next_run_fetches_them(
    make_simulator, data_root: DataRoot
) -> None:
    server = make_simulator(issues=40, faults=Faults(truncate_rate=0.3), fault_seed=5)
    jira, sla = clients_for(server, data_root)
    first = refresh_issues(server.jira.keys(), jira, sla, data_root, parallel=4)
    assert first.failed and first.fetched
    assert all("truncated" in reason for reason in first.failed.values()), first.failed
    server.faults.truncate_rate = 0.0
    second = backfill(jira, sla, data_root, jql=SCOPE, parallel=4, progress=False)
    assert second.ok and sorted(second.fetched) == sorted(first.failed)
    assert_store_matches(server.jira, data_root, check_bytes=False)


def run_cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jira_pipeline.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_backfill_killed_mid_way_resumes_to_a_complete_uncorrupted_store(
    make_simulator, data_root: DataRoot
) -> None:
    server = make_simulator(issues=120, faults=Faults(latency_ms=5))
    env = {
        **os.environ,
        **server.env(),
        "JIRA_DATA_ROOT": str(data_root.root),
        "JIRA_RATE_LIMIT_PER_S": "0",
    }
    args = ["backfill", "--jql", SCOPE, "--parallel", "4", "--quiet"]
    victim = run_cli(args, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and victim.poll() is None:
        if len(list(iter_issue_keys(data_root))) >= 30:
            break
        time.sleep(0.02)
    assert victim.poll() is None, "the backfill finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    done_before = list(iter_issue_keys(data_root))
    assert 30 <= len(done_before) < 120
    for key in done_before:
        orjson.loads(record_json(data_root.issue_file(key).read_bytes()))  # never half a file

    resumed = run_cli(args, env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    skipped = int(out.split(" fetched, ")[1].split(" skipped")[0])
    # issues stored but still waiting for their attachment files are refetched: with bulk
    # reads that is at most the read batches in flight, never the whole store
    assert skipped >= 1 and skipped <= len(done_before)
    assert_store_matches(server.jira, data_root, check_bytes=False)


def test_fetch_tombstones_deleted_issues_and_bad_keys_never_reach_http(
    simulator, data_root: DataRoot
) -> None:
    sim: SimulatedJira = simulator.jira
    jira, sla = clients_for(simulator, data_root)
    with_files = next(
        k
        for k in list(sim.keys())
        if any(a["size"] < CAP for a in sim.issue_json(k)["fields"]["attachment"])
    )
    refresh_issues([with_files], jira, sla, data_root)
    assert any(data_root.issue_attachments_dir(with_files).iterdir())
    sim.delete_issue(with_files)
    before = simulator.request_count
    summary = fetch_issues([with_files, "../../etc/passwd", "SUPPORT-1 OR 1=1"], jira, data_root)
    assert summary.deleted == [with_files] and summary.changed_keys == [with_files]
    assert sorted(summary.failed) == ["../../etc/passwd", "SUPPORT-1 OR 1=1"]
    assert all("invalid Jira issue key" in r for r in summary.failed.values())
    # the bulk read leaves the deleted issue out; one GET confirms the 404
    assert simulator.request_count - before == summary.requests == 2
    stored = load_issue(data_root, with_files)
    assert is_tombstone(stored) and stored["key"] == with_files
    assert not data_root.issue_attachments_dir(with_files).exists()


def test_separate_passes_fetch_overlay_and_attachments_build_the_same_store(
    simulator, data_root: DataRoot
) -> None:
    sim: SimulatedJira = simulator.jira
    jira, sla = clients_for(simulator, data_root)
    keys = sim.keys()
    fetched = fetch_issues(keys, jira, data_root, parallel=4)
    assert fetched.ok and sorted(fetched.fetched) == sorted(keys)
    assert all("_sla" not in load_issue(data_root, k) for k in keys)
    warned = overlay_sla(keys, None, data_root)
    assert warned.ok and "JIRA_SLA_API_TOKEN" in warned.warning and not warned.overlaid
    overlaid = overlay_sla(keys, sla, data_root, parallel=4)
    assert overlaid.ok and sorted(overlaid.overlaid) == sorted(keys)
    # JSM is asked about service-desk issues only; the others simply have no SLA.
    assert overlaid.requests == sum(1 for k in keys if k.startswith("SUPPORT-"))
    stale = data_root.issue_attachments_dir(keys[0]) / "99_removed-from-jira.txt"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    files = download_attachments(keys, jira, data_root)
    assert files.ok and files.downloaded > 10 and files.removed == 1
    assert_store_matches(sim, data_root, check_bytes=True)
    again = download_attachments(keys, jira, data_root)
    assert again.downloaded == 0 and again.present == files.downloaded and again.requests == 0


def test_poll_sla_heals_an_issue_resolved_behind_the_stores_back(
    simulator, data_root: DataRoot
) -> None:
    sim: SimulatedJira = simulator.jira
    jira, sla = clients_for(simulator, data_root)
    assert backfill(jira, sla, data_root, jql=SCOPE, progress=False).ok
    open_with_sla = [
        k
        for k in iter_issue_keys(data_root)
        if load_issue(data_root, k)["_sla"]
        and load_issue(data_root, k)["fields"]["status"]["statusCategory"]["key"] != "done"
    ]
    assert len(open_with_sla) >= 4
    resolved, stale, *others = open_with_sla
    sim.resolve_issue(resolved)
    old_sla = [
        dict(record, name="an older snapshot") for record in load_issue(data_root, stale)["_sla"]
    ]
    assert patch_issue(data_root, stale, sla=old_sla)

    files_before = {k: data_root.issue_file(k).read_bytes() for k in open_with_sla}
    dry = poll_sla(jira, sla, data_root, dry_run=True)
    assert dry.healed == [resolved] and dry.updated == [stale]
    assert {k: data_root.issue_file(k).read_bytes() for k in open_with_sla} == files_before

    summary = poll_sla(jira, sla, data_root)
    assert summary.ok and summary.healed == [resolved] and summary.updated == [stale]
    assert sorted(summary.skipped) == sorted(others)
    assert summary.changed_keys == sorted([resolved, stale])
    assert "resolved in Jira" in summary.reasons[resolved]
    healed = load_issue(data_root, resolved)
    assert healed["fields"]["resolution"]["name"] == "Done"
    assert stored_raw(data_root, resolved) == served_raw(sim, resolved)
    assert stored_raw(data_root, stale) == served_raw(sim, stale)

    quiet = poll_sla(jira, sla, data_root)
    assert quiet.changed_keys == [] and sorted(quiet.skipped) == sorted([stale, *others])
    assert poll_sla(jira, None, data_root).warning is not None


def test_month_queries_and_id_resolution(simulator, data_root: DataRoot) -> None:
    sim: SimulatedJira = simulator.jira
    jira, _ = clients_for(simulator, data_root)
    keys = sim.keys()
    created = {k: sim.issue_json(k, fields="created")["fields"]["created"] for k in keys}
    month = month_of(created[sim.keys()[0]])
    in_month = sorted(k for k, c in created.items() if month_of(c) == month)
    assert sorted(search_month_keys(jira, month, "project in (SUPPORT, ENG)")) == in_month
    assert sorted(search_month_keys(jira, month, "project = SUPPORT")) == [
        k for k in in_month if k.startswith("SUPPORT-")
    ]
    key = sim.keys()[5]
    issue_id = sim.issue_json(key, fields="key")["id"]
    assert resolve_issue_ids(jira, [issue_id, "999999999"]) == {issue_id: key}
    before = simulator.request_count
    with pytest.raises(ValueError):
        resolve_issue_ids(jira, [issue_id, "../1"])
    assert simulator.request_count == before


def test_backfill_since_a_month_takes_only_later_issues(simulator, data_root: DataRoot) -> None:
    sim: SimulatedJira = simulator.jira
    jira, sla = clients_for(simulator, data_root)
    months = sorted(
        {
            month_of(sim.issue_json(k, fields="created")["fields"]["created"])
            for k in list(sim.keys())
        }
    )
    since = months[len(months) // 2]
    summary = backfill(jira, sla, data_root, jql=SCOPE, since=since, progress=False)
    assert summary.ok and summary.found == len(summary.fetched) > 0
    for key in iter_issue_keys(data_root):
        assert month_of(load_issue(data_root, key)["fields"]["created"]) >= since
    assert len(summary.fetched) < len(sim.keys())
    with pytest.raises(ValueError, match="JIRA_JQL"):
        backfill(jira, sla, data_root, jql=" ", progress=False)


def test_commands_report_and_exit_codes(
    simulator, data_root: DataRoot, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    for name, value in {**simulator.env(), "JIRA_DATA_ROOT": str(data_root.root)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JIRA_RATE_LIMIT_PER_S", "0")
    monkeypatch.setenv("JIRA_JQL", SCOPE)
    assert cli_main(["backfill", "--parallel", "4", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{len(simulator.jira.keys())} fetched" in out and "0 failed" in out
    assert cli_main(["poll-sla", "--dry-run", "--verbose"]) == 0
    assert "dry run" in capsys.readouterr().out

    monkeypatch.setenv("JIRA_API_TOKEN", "revoked-token-5678")
    assert cli_main(["backfill", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "rotate JIRA_API_TOKEN" in err and "revoked-token-5678" not in err
    assert read_auth_state(data_root)["api"] is not None

    jira, sla = clients_for(simulator, data_root)
    jira.session.auth = ("sim@example.com", "revoked-token-5678")
    with pytest.raises(JiraAuthError):
        refresh_issues(simulator.jira.keys(), jira, sla, data_root, parallel=4)
