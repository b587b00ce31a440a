"""The Jira and JSM clients over real HTTP against the simulator: complete issues,
paging, 404s, retries that honour Retry-After, truncated bodies, 401s that say which token
to rotate, and keys or attachment names that never reach a URL or leave their folder."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from jira_pipeline.config import load_settings
from jira_pipeline.ingest.attachments import download_attachment
from jira_pipeline.jira.client import (
    JiraAuthError,
    JiraClient,
    JiraError,
    JiraResponseError,
    RetryPolicy,
)
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.sandbox.simulator import DEFAULT_TOKEN, Faults, SimulatedJira, SimulatorServer
from jira_pipeline.storage import DataRoot
from jira_pipeline.storage.auth_state import auth_recorder, read_auth_state
from jira_pipeline.storage.raw_store import sanitize_file_name
from jira_pipeline_tests.fixtures.ingest import (
    FAST_RETRY,
    clients_for,
    served_changelog,
    served_slas,
)

BAD_KEYS = ["../../etc/passwd", "SUPPORT-1/../../x", "support-1", "SUPPORT-1?x=1", "A-1\n", ""]


def test_get_issue_returns_the_served_issue_with_the_complete_changelog(
    make_simulator, data_root: DataRoot
) -> None:
    server = make_simulator(issues=120)
    sim: SimulatedJira = server.jira
    jira, _ = clients_for(server, data_root)
    keys = sim.keys()
    big = [k for k in keys if sim.changelog_page(k)["total"] > 100]
    assert big, "the simulated site has issues whose changelog exceeds the inline page"
    for key in [keys[0], big[0]]:
        issue = jira.get_issue(key)
        expected = sim.issue_json(key, expand={"renderedFields", "changelog"})
        expected["changelog"] = served_changelog(sim, key, expected["changelog"])
        assert issue == expected
    assert len(jira.get_changelog(big[0])) == sim.changelog_page(big[0])["total"] > 100


def test_remote_links_slas_and_fields_are_read_whole(simulator, data_root: DataRoot) -> None:
    sim: SimulatedJira = simulator.jira
    jira, sla = clients_for(simulator, data_root)
    for key in sim.keys()[:10]:
        assert jira.get_remote_links(key) == sim.remote_links(key)
        assert sla.get_slas(key) == served_slas(sim, key)
    assert jira.get_fields() == sim.fields()


def test_search_follows_next_page_token_until_is_last(simulator, data_root: DataRoot) -> None:
    jira, _ = clients_for(simulator, data_root)
    found = list(jira.iter_search_jql("project in (SUPPORT, ENG)", page_size=7))
    assert sorted(i["key"] for i in found) == sorted(simulator.jira.keys())
    assert simulator.path_counts["search"] == -(-len(found) // 7)


def test_a_deleted_issue_is_none_not_an_exception(simulator, data_root: DataRoot) -> None:
    jira, sla = clients_for(simulator, data_root)
    key = simulator.jira.keys()[3]
    issue_id = simulator.jira.issue_json(key)["id"]
    assert jira.get_issue_key(issue_id) == key
    simulator.jira.delete_issue(key)
    assert jira.get_issue(key) is None
    assert jira.get_issue_key(issue_id) is None
    assert sla.get_slas(key) is None


@pytest.mark.parametrize("bad_key", BAD_KEYS)
def test_bad_keys_never_reach_http(simulator, data_root: DataRoot, bad_key: str) -> None:
    jira, sla = clients_for(simulator, data_root)
    before = simulator.request_count
    for call in (jira.get_issue, jira.get_changelog, jira.get_remote_links, sla.get_slas):
        with pytest.raises(ValueError):
            call(bad_key)
    with pytest.raises(ValueError):
        jira.get_issue_key("1 OR 1=1")
    assert simulator.request_count == before
    assert jira.request_count == sla.request_count == 0


def test_429_waits_for_retry_after_then_succeeds(make_simulator, data_root: DataRoot) -> None:
    server = make_simulator(faults=Faults(rate_limit_every=2, retry_after_s=0.2))
    jira, _ = clients_for(server, data_root)
    started = time.monotonic()
    for key in server.jira.keys()[:3]:
        assert jira.get_remote_links(key) == server.jira.remote_links(key)
    waited = time.monotonic() - started
    # Requests 2 and 4 (the first tries for keys 2 and 3) were refused, then retried.
    assert jira.meter.retries == 2
    assert jira.meter.retry_wait_s >= 2 * 0.2 and waited >= 2 * 0.2
    assert jira.request_count == server.request_count == 5


def test_5xx_are_retried_with_backoff_and_then_reported(
    make_simulator, data_root: DataRoot
) -> None:
    server = make_simulator(faults=Faults(error_rate=1.0))
    jira, _ = clients_for(server, data_root, retry=RetryPolicy(total=3, backoff_factor=0.01))
    with pytest.raises(JiraError, match=r"HTTP 50[03]"):
        jira.get_issue(server.jira.keys()[0])
    assert server.request_count == 4  # first try + 3 retries
    server.faults.error_rate = 0.0
    assert jira.get_issue(server.jira.keys()[0])["key"] == server.jira.keys()[0]


def test_other_4xx_are_not_retried(simulator, data_root: DataRoot) -> None:
    jira, _ = clients_for(simulator, data_root)
    with pytest.raises(JiraError, match="HTTP 400"):
        list(jira.iter_search_jql("summary ~ printer"))
    assert simulator.request_count == 1


def test_a_truncated_body_is_a_clear_error(make_simulator, data_root: DataRoot) -> None:
    server = make_simulator(faults=Faults(truncate_rate=1.0))
    jira, _ = clients_for(server, data_root)
    with pytest.raises(JiraResponseError, match="truncated"):
        jira.get_issue(server.jira.keys()[0])


def test_401_names_the_token_to_rotate_and_is_recorded(simulator, data_root: DataRoot) -> None:
    env = simulator.env()
    wrong = "wrong-token-1234"
    jira = JiraClient(env["JIRA_BASE_URL"], env["JIRA_EMAIL"], wrong, on_auth=auth_recorder(data_root))
    with pytest.raises(JiraAuthError) as caught:
        jira.get_issue(simulator.jira.keys()[0])
    message = str(caught.value)
    assert "rotate JIRA_API_TOKEN" in message and wrong not in message
    assert DEFAULT_TOKEN not in message
    assert simulator.request_count == 1  # a 401 is not retried
    state = read_auth_state(data_root)
    assert "JIRA_API_TOKEN" in state["api"]["hint"] and state["sla"] is None
    assert wrong not in data_root.state_dir.joinpath("auth_api.json").read_text()

    sla = JsmSlaClient(
        env["JIRA_SLA_BASE_URL"],
        env["JIRA_CLOUD_ID"],
        env["JIRA_SLA_EMAIL"],
        wrong,
        on_auth=auth_recorder(data_root),
    )
    with pytest.raises(JiraAuthError, match="rotate JIRA_SLA_API_TOKEN"):
        sla.get_slas(simulator.jira.keys()[0])
    assert read_auth_state(data_root)["sla"] is not None

    good, _ = clients_for(simulator, data_root)
    assert good.get_issue(simulator.jira.keys()[0]) is not None
    assert read_auth_state(data_root)["api"] is None  # cleared by the next success


def test_from_settings_reads_the_environment_names(simulator, data_root: DataRoot) -> None:
    settings = load_settings({**simulator.env(), "JIRA_DATA_ROOT": str(data_root.root)})
    jira = JiraClient.from_settings(settings)
    sla = JsmSlaClient.from_settings(settings)
    assert jira.base_url == simulator.base_url and sla is not None
    assert jira.get_issue(simulator.jira.keys()[0]) is not None
    no_sla = load_settings({k: v for k, v in simulator.env().items() if "SLA" not in k})
    assert JsmSlaClient.from_settings(no_sla) is None
    with pytest.raises(JiraError, match="JIRA_API_TOKEN"):
        JiraClient.from_settings(load_settings({"JIRA_DOMAIN": "x.atlassian.net"}))


def test_attachments_stream_to_disk_and_hostile_names_stay_inside(
    make_simulator, data_root: DataRoot
) -> None:
    server: SimulatorServer = make_simulator(issues=200)
    sim: SimulatedJira = server.jira
    jira, _ = clients_for(server, data_root)
    attachments = [
        a
        for key in list(sim.keys())
        for a in sim.issue_json(key)["fields"]["attachment"]
        if a["size"] < 1_000_000
    ]
    # Every name that needs sanitising: traversal, separators, control characters,
    # leading dots, Unicode, over-long names.
    hostile = [a for a in attachments if sanitize_file_name(a["filename"]) != a["filename"]]
    assert len({a["filename"] for a in hostile}) >= 5, "the site serves hostile names"
    folder = data_root.issue_attachments_dir("SUPPORT-1")
    for attachment in hostile:
        result = download_attachment(jira, data_root, "SUPPORT-1", attachment)
        assert result.status == "downloaded"
        assert result.path.parent == folder
        expected = hashlib.sha256(sim.attachment_bytes(attachment["id"])).hexdigest()
        assert hashlib.sha256(result.path.read_bytes()).hexdigest() == result.sha256 == expected
        assert result.path.stat().st_mode & 0o777 == 0o640
    everything = sorted(p for p in data_root.root.rglob("*") if p.is_file())
    assert all(folder in p.parents for p in everything)
    before = server.request_count
    again = download_attachment(jira, data_root, "SUPPORT-1", hostile[0])
    assert again.status == "present" and server.request_count == before


def test_oversize_attachments_are_skipped_without_a_request(
    make_simulator, data_root: DataRoot
) -> None:
    server = make_simulator(issues=60)
    jira, _ = clients_for(server, data_root)
    big = next(
        a
        for key in list(server.jira.keys())
        for a in server.jira.issue_json(key)["fields"]["attachment"]
        if a["size"] > 50 * 1024 * 1024
    )
    before = server.request_count
    result = download_attachment(jira, data_root, "SUPPORT-1", big)
    assert result.status == "oversize" and not result.path.exists()
    assert server.request_count == before


def test_a_truncated_attachment_leaves_nothing_behind(make_simulator, data_root: DataRoot) -> None:
    server = make_simulator(faults=Faults(truncate_rate=1.0))
    jira, _ = clients_for(server, data_root, retry=FAST_RETRY)
    attachment = next(
        a
        for key in list(server.jira.keys())
        for a in server.jira.issue_json(key)["fields"]["attachment"]
        if 1000 < a["size"] < 1_000_000
    )
    folder = data_root.issue_attachments_dir("SUPPORT-1")
    with pytest.raises(JiraResponseError, match="truncated"):
        download_attachment(jira, data_root, "SUPPORT-1", attachment)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_the_rate_budget_paces_every_thread_of_the_process(simulator, data_root: DataRoot) -> None:
    env = simulator.env()
    clients = [
        JiraClient(
            env["JIRA_BASE_URL"], env["JIRA_EMAIL"], env["JIRA_API_TOKEN"], rate_limit_per_s=10
        )
        for _ in range(2)
    ]
    assert clients[0].meter.budget is clients[1].meter.budget  # one budget per site
    key = simulator.jira.keys()[0]

    def fetch(client: JiraClient) -> None:
        for _ in range(5):
            client.get_remote_links(key)

    started = time.monotonic()
    threads = [threading.Thread(target=fetch, args=(clients[n % 2],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 20 requests at 10/s with a burst of 10: the last 10 needed at least a second.
    assert time.monotonic() - started >= 0.95
    assert simulator.request_count == 20
