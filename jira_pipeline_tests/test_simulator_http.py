"""The simulator over real HTTP: shapes of every endpoint, search paging, auth, faults."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from jira_pipeline.sandbox.simulator import (
    DEFAULT_EMAIL,
    DEFAULT_SLA_EMAIL,
    DEFAULT_SLA_TOKEN,
    DEFAULT_TOKEN,
    Faults,
    SimulatedJira,
    SimulatorServer,
)
from jira_pipeline.sandbox.simulator.server import SiteSetup
from jira_pipeline_tests.fixtures import jira_shapes
from jira_pipeline_tests.fixtures.key_structure import key_structure, structure_differences
from jira_pipeline_tests.fixtures.simulator import live_keys

API = (DEFAULT_EMAIL, DEFAULT_TOKEN)
SLA = (DEFAULT_SLA_EMAIL, DEFAULT_SLA_TOKEN)


@pytest.fixture
def http() -> requests.Session:
    with requests.Session() as session:
        session.auth = API
        yield session


def _sla_url(server: SimulatorServer, key: str) -> str:
    return f"{server.sla_base_url}/ex/jira/{server.cloud_id}/rest/servicedeskapi/request/{key}/sla"


def _all_issues(server: SimulatorServer, http: requests.Session) -> list[dict]:
    """Every issue as served: a few over HTTP (proving the server sends exactly the site's
    document), the rest read in-process to keep the suite fast."""
    keys = server.jira.keys()
    for key in keys[:6]:
        served = http.get(
            f"{server.base_url}/rest/api/3/issue/{key}",
            params={"expand": "renderedFields,changelog"},
        )
        assert served.content == server.jira.issue_bytes(
            key, expand={"renderedFields", "changelog"}
        )
    return [server.jira.issue_json(key, expand={"renderedFields", "changelog"}) for key in keys]


def test_every_endpoint_has_the_key_structure_of_jira(
    simulator: SimulatorServer, http: requests.Session
) -> None:
    base = simulator.base_url
    issues = _all_issues(simulator, http)
    assert not structure_differences(key_structure([jira_shapes.ISSUE]), key_structure(issues))
    big = next(i for i in issues if i["changelog"]["total"] > 100)
    changelog = http.get(
        f"{base}/rest/api/3/issue/{big['key']}/changelog", params={"startAt": 0, "maxResults": 50}
    ).json()
    assert not structure_differences(
        key_structure([jira_shapes.CHANGELOG_PAGE]), key_structure([changelog])
    )
    with_links = [i["key"] for i in issues if simulator.jira.remote_links(i["key"])][:4]
    links = [http.get(f"{base}/rest/api/3/issue/{key}/remotelink").json() for key in with_links]
    assert len(links) == 4 and all(links)
    assert not structure_differences(
        key_structure([jira_shapes.REMOTE_LINKS]), key_structure(links)
    )
    fields = http.get(f"{base}/rest/api/3/field").json()
    assert not structure_differences(key_structure(jira_shapes.FIELDS), key_structure(fields))
    page = http.post(
        f"{base}/rest/api/3/search/jql",
        json={
            "jql": "project = SUPPORT",
            "maxResults": 3,
            "fields": ["summary", "status", "created", "updated", "issuetype"],
        },
    )
    assert not structure_differences(
        key_structure([jira_shapes.SEARCH_PAGE]), key_structure([page.json()])
    )
    assert "total" not in page.json()
    sla_keys = [i["key"] for i in issues if i["key"].startswith("SUPPORT")][:8]
    sla_pages = [
        requests.get(_sla_url(simulator, key), params={"limit": 1, "start": s}, auth=SLA).json()
        for key in sla_keys
        for s in (0, 1)
    ]
    assert not structure_differences(
        key_structure([jira_shapes.SLA_PAGE]),
        key_structure([p for p in sla_pages if "values" in p]),
    )
    missing = http.get(f"{base}/rest/api/3/issue/SUPPORT-9999")
    assert missing.status_code == 404
    assert missing.json() == {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {},
    }


def test_expand_and_fields_parameters(simulator: SimulatorServer, http: requests.Session) -> None:
    url = f"{simulator.base_url}/rest/api/3/issue/SUPPORT-1"
    plain = http.get(url).json()
    assert "changelog" not in plain and "renderedFields" not in plain
    assert len(plain["fields"]) > 60
    narrow = http.get(
        url, params={"fields": "summary,customfield_10010", "expand": "changelog"}
    ).json()
    assert set(narrow["fields"]) == {"summary", "customfield_10010"} and "changelog" in narrow
    repeated = http.get(url, params=[("fields", "summary"), ("fields", "status")]).json()
    assert set(repeated["fields"]) == {"summary", "status"}


JQLS = [
    "project = SUPPORT",
    "project in (SUPPORT, ENG) ORDER BY created DESC",
    'created >= "2024-06-01" AND created < "2025-03-01 12:00" ORDER BY updated ASC',
    "updated > 2024-09-01 AND project = ENG ORDER BY key DESC",
    "key in (SUPPORT-1, ENG-2, SUPPORT-7, ENG-30)",
    "",
]


@pytest.mark.parametrize(
    ("jql", "page_size"), [(jql, size) for jql in JQLS for size in (7, 100)] + [(JQLS[2], 1)]
)
def test_search_pages_return_every_match_exactly_once(
    simulator: SimulatorServer, http: requests.Session, jql: str, page_size: int
) -> None:
    url = f"{simulator.base_url}/rest/api/3/search/jql"
    expected = _expected_keys(simulator.jira, jql)
    keys, token, pages = [], None, 0
    while True:
        body = {"jql": jql, "maxResults": page_size, "fields": ["key"]}
        if token:
            body["nextPageToken"] = token
        page = http.post(url, json=body).json()
        keys += [i["key"] for i in page["issues"]]
        pages += 1
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert len(keys) == len(set(keys)) and set(keys) == expected
    assert pages == max(1, -(-len(expected) // page_size))


def _expected_keys(jira: SimulatedJira, jql: str) -> set[str]:
    """The matching keys computed independently of the search code, from issue JSON."""
    from jira_pipeline.core.dates import parse_jira_datetime
    from jira_pipeline.sandbox.simulator.jql import parse_jql

    query = parse_jql(jql)
    found = set()
    for key in live_keys(jira):
        fields = jira.issue_json(key, fields="created,updated,project")["fields"]
        ok = True
        for c in query.conditions:
            if c.field == "project":
                ok &= fields["project"]["key"] in c.values
            elif c.field == "key":
                ok &= key in c.values
            else:
                ms = int(parse_jira_datetime(fields[c.field]).timestamp() * 1000)
                ok &= {
                    ">=": ms >= c.instant_ms,
                    ">": ms > c.instant_ms,
                    "<=": ms <= c.instant_ms,
                    "<": ms < c.instant_ms,
                }[c.op]
        if ok:
            found.add(key)
    return found


def test_search_order_get_form_caps_and_errors(
    simulator: SimulatorServer, http: requests.Session
) -> None:
    url = f"{simulator.base_url}/rest/api/3/search/jql"
    page = http.get(
        url,
        params={
            "jql": "project = ENG ORDER BY created DESC",
            "fields": "created",
            "maxResults": 1000,
        },
    ).json()
    created = [i["fields"]["created"] for i in page["issues"]]
    assert len(created) == 30 and page["isLast"]
    from jira_pipeline.core.dates import parse_jira_datetime

    assert [parse_jira_datetime(c) for c in created] == sorted(
        (parse_jira_datetime(c) for c in created), reverse=True
    )
    big = SimulatorServer(SimulatedJira(issues=300)).start()
    try:
        full = http.post(
            f"{big.base_url}/rest/api/3/search/jql",
            json={"jql": "", "maxResults": 5000, "fields": ["*all"]},
        ).json()
        ids = http.post(
            f"{big.base_url}/rest/api/3/search/jql", json={"jql": "", "maxResults": 5000}
        ).json()
    finally:
        big.stop()
    assert len(full["issues"]) == 100 and not full["isLast"]
    assert len(ids["issues"]) == 300 and set(ids["issues"][0]) == {"id"}
    for bad in ("project = SUPPORT OR project = ENG", "labels = x", "created > now()"):
        response = http.post(url, json={"jql": bad})
        assert response.status_code == 400
        assert response.json()["errorMessages"] and response.json()["errors"] == {}
    assert http.post(url, json={"jql": "", "nextPageToken": "garbage"}).status_code == 400
    assert http.post(f"{simulator.base_url}/rest/api/3/search", json={"jql": ""}).status_code == 410


def test_wrong_or_missing_credentials_are_401(simulator: SimulatorServer) -> None:
    issue = f"{simulator.base_url}/rest/api/3/issue/SUPPORT-1"
    sla = _sla_url(simulator, "SUPPORT-1")
    assert requests.get(issue).status_code == 401
    assert requests.get(issue, auth=(DEFAULT_EMAIL, "wrong")).status_code == 401
    assert requests.get(issue, auth=SLA).status_code == 401
    assert requests.get(issue, auth=API).status_code == 200
    assert requests.get(sla, auth=API).status_code == 401
    assert requests.get(sla, auth=SLA).status_code in (200, 404)
    assert requests.get(sla.replace(simulator.cloud_id, "other-cloud"), auth=SLA).status_code == 404
    assert requests.get(_sla_url(simulator, "ENG-1"), auth=SLA).status_code == 404
    assert requests.post(f"{simulator.base_url}/_simulator/mutate").status_code == 401


def test_attachment_bytes_and_large_streamed_body(make_simulator) -> None:
    server = make_simulator(issues=120)
    jira = server.jira
    attachments = [
        a
        for k in live_keys(jira)
        for a in jira.issue_json(k, fields="attachment")["fields"]["attachment"]
    ]
    small = next(a for a in attachments if a["size"] < 100_000)
    response = requests.get(small["content"], auth=API)
    assert response.status_code == 200 and response.content == jira.attachment_bytes(small["id"])
    assert response.headers["Content-Type"] == small["mimeType"]
    large = next(a for a in attachments if a["size"] > 50 * 1024 * 1024)
    with requests.get(large["content"], auth=API, stream=True) as streamed:
        assert int(streamed.headers["Content-Length"]) == large["size"]
        assert len(next(streamed.iter_content(65_536))) > 0
    assert (
        requests.get(f"{server.base_url}/rest/api/3/attachment/content/123", auth=API).status_code
        == 404
    )


def test_rate_limit_every_nth_request_with_retry_after(make_simulator) -> None:
    server = make_simulator(faults=Faults(rate_limit_every=3, retry_after_s=2))
    url = f"{server.base_url}/rest/api/3/field"
    with requests.Session() as http:
        responses = [http.get(url, auth=API) for _ in range(9)]
    assert [r.status_code for r in responses] == [200, 200, 429] * 3
    limited = responses[2]
    assert limited.headers["Retry-After"] == "2" and limited.headers["X-RateLimit-Reset"]
    assert server.request_count == 9 and server.path_counts["field"] == 9


def test_error_rate_and_outage(make_simulator) -> None:
    server = make_simulator(faults=Faults(error_rate=0.5))
    url = f"{server.base_url}/rest/api/3/issue/ENG-1"
    with requests.Session() as http:
        statuses = [http.get(url, auth=API).status_code for _ in range(40)]
    assert set(statuses) == {200, 500, 503}
    assert 6 < statuses.count(200) < 34
    server.faults.error_rate = 0.0
    server.faults.down = True
    assert requests.get(url, auth=API).status_code == 503
    server.faults.down = False
    assert requests.get(url, auth=API).status_code == 200


def test_truncated_bodies_fail_loudly(make_simulator) -> None:
    server = make_simulator(faults=Faults(truncate_rate=1.0))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{server.base_url}/rest/api/3/issue/SUPPORT-1", auth=API)
    server.faults.truncate_rate = 0.0
    assert requests.get(f"{server.base_url}/rest/api/3/issue/SUPPORT-1", auth=API).json()["key"]


def test_latency_applies_and_requests_are_served_concurrently(make_simulator) -> None:
    server = make_simulator(faults=Faults(latency_ms=150))
    url = f"{server.base_url}/rest/api/3/issue/SUPPORT-1"
    started = time.monotonic()
    assert requests.get(url, auth=API).status_code == 200
    assert time.monotonic() - started >= 0.15
    server.expect_concurrency("issue", parties=4)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: requests.get(url, auth=API).status_code, range(16)))
    assert statuses == [200] * 16
    assert server.concurrency_met and server.max_in_flight >= 4


def test_a_serial_client_leaves_the_concurrency_gate_unmet(make_simulator) -> None:
    server = make_simulator()
    server.expect_concurrency("issue", parties=2, timeout_s=0.2)
    url = f"{server.base_url}/rest/api/3/issue/SUPPORT-1"
    assert [requests.get(url, auth=API).status_code for _ in range(3)] == [200] * 3
    assert not server.concurrency_met


def test_keep_alive_connection_is_reused(
    simulator: SimulatorServer, http: requests.Session
) -> None:
    first = http.get(f"{simulator.base_url}/rest/api/3/field", stream=True)
    sock = first.raw._connection.sock
    first.content  # noqa: B018 - drain so the connection returns to the pool
    second = http.get(f"{simulator.base_url}/rest/api/3/field", stream=True)
    assert second.raw._connection.sock is sock
    second.content  # noqa: B018


def test_control_api_mutates_reports_state_and_changes_faults(
    simulator: SimulatorServer, http: requests.Session
) -> None:
    base = simulator.base_url
    mutation = http.post(f"{base}/_simulator/mutate", json={"seed": 11}).json()
    assert mutation["event"] and mutation["body"]["webhookEvent"] == mutation["event"]
    resolved = http.post(f"{base}/_simulator/issues/SUPPORT-2/resolve").json()
    assert resolved["issue_key"] == "SUPPORT-2"
    issue = http.get(f"{base}/rest/api/3/issue/SUPPORT-2").json()
    assert issue["fields"]["resolution"]["name"] == "Done"
    http.post(f"{base}/_simulator/issues/ENG-3/update", json={"summary": "Changed remotely"})
    assert (
        http.get(f"{base}/rest/api/3/issue/ENG-3").json()["fields"]["summary"] == "Changed remotely"
    )
    http.delete(f"{base}/_simulator/issues/ENG-4")
    assert http.get(f"{base}/rest/api/3/issue/ENG-4").status_code == 404
    state = http.get(f"{base}/_simulator/state").json()
    assert "ENG-4" in state["deleted"] and "SUPPORT-2" in state["changed"]
    assert http.put(f"{base}/_simulator/faults", json={"latency_ms": 5}).json()["latency_ms"] == 5
    assert simulator.faults.latency_ms == 5
    assert "ENG-4" not in http.get(f"{base}/_simulator/keys").json()["keys"]


def test_env_points_settings_at_the_server(simulator: SimulatorServer) -> None:
    from jira_pipeline.config import load_settings

    settings = load_settings(simulator.env())
    assert settings.base_url == simulator.base_url and settings.sla_configured
    response = requests.get(
        f"{settings.base_url}/rest/api/3/myself", auth=(settings.email, settings.api_token)
    )
    assert response.status_code == 200


def test_stopped_server_refuses_connections(make_simulator) -> None:
    server = make_simulator()
    url = f"{server.base_url}/rest/api/3/field"
    with requests.Session() as http:
        assert http.get(url, auth=API).status_code == 200
        server.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            http.get(url, auth=API, timeout=5)


def test_bulk_endpoints_follow_the_site_setup(http: requests.Session) -> None:
    """An unbrowsable project's issues are left out of bulk reads, as unknown keys are; the
    SLA account without the agent role gets 403 from its bulk view, as from /sla."""
    site = SimulatedJira(seed=2, issues=20, projects=("SUP", "ENG"))
    setup = SiteSetup(unbrowsable_projects=("ENG",), sla_agent=False)
    with SimulatorServer(site, setup=setup) as server:
        keys = site.keys()
        hidden = [k for k in keys if k.startswith("ENG-")]
        assert hidden and len(hidden) < len(keys)
        issues = http.post(f"{server.base_url}/rest/api/3/issue/bulkfetch",
                           json={"issueIdsOrKeys": keys, "fields": ["summary"]}).json()
        assert sorted(i["key"] for i in issues["issues"]) == sorted(set(keys) - set(hidden))
        changelogs = http.post(f"{server.base_url}/rest/api/3/changelog/bulkfetch",
                               json={"issueIdsOrKeys": hidden}).json()
        assert changelogs["issueChangeLogs"] == []
        sla_view = requests.post(
            f"{server.sla_base_url}/ex/jira/{server.cloud_id}/rest/api/3/issue/bulkfetch",
            json={"issueIdsOrKeys": keys[:3]}, auth=SLA, timeout=10)
        assert sla_view.status_code == 403


def test_state_counts_attachment_and_remotelink_under_those_route_names(
    make_simulator, http: requests.Session
) -> None:
    """Checks outside the project read ``path_counts`` from ``/_simulator/state`` and count
    on the names ``attachment`` and ``remotelink`` (issue 13); the bulk routes have theirs."""
    server = make_simulator(issues=60)
    jira = server.jira
    base = server.base_url
    key, attachment = next(
        (k, a)
        for k in live_keys(jira)
        for a in jira.issue_json(k, fields="attachment")["fields"]["attachment"]
        if a["size"] < 100_000
    )
    server.reset_counts()
    assert http.get(attachment["content"]).status_code == 200
    assert http.get(f"{base}/rest/api/3/issue/{key}/remotelink").status_code == 200
    assert http.get(f"{base}/rest/api/3/issue/{key}/remotelink").status_code == 200
    bulk = http.post(f"{base}/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": [key]})
    assert bulk.status_code == 200
    state = http.get(f"{base}/_simulator/state").json()
    assert state["path_counts"] == {"attachment": 1, "remotelink": 2, "issue_bulkfetch": 1}


def test_burst_limit_on_one_endpoint_answers_429_as_jira_while_the_others_serve(
    make_simulator, http: requests.Session
) -> None:
    """Per-endpoint burst limits when asked (issue 13): 429 with ``Retry-After`` and
    ``RateLimit-Reason: jira-burst-based`` on that route only."""
    server = make_simulator(issues=20, faults=Faults(burst_routes={"remotelink": 30}))
    key = live_keys(server.jira)[0]
    limited = http.get(f"{server.base_url}/rest/api/3/issue/{key}/remotelink")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "30"
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    assert http.get(f"{server.base_url}/rest/api/3/issue/{key}").status_code == 200
    assert http.get(f"{server.base_url}/rest/api/3/field").status_code == 200


def test_sla_values_are_in_the_jsm_accounts_view_only(make_simulator) -> None:
    """As on the seed's site: the API account's issue JSON has no SLA values, the JSM
    account's bulk view through the gateway has them, the same cycles as the SLA API."""
    server = make_simulator(jira=SimulatedJira(seed=2, issues=60, api_sees_sla=False))
    jira = server.jira
    sla_ids = [f["id"] for f in jira.fields()
               if (f.get("schema") or {}).get("custom") == "com.atlassian.servicedesk:sd-sla-field"]
    key = next(k for k in live_keys(jira) if (jira.sla_page(k, 0, 50) or {}).get("values"))
    body = {"issueIdsOrKeys": [key], "fields": sla_ids}
    api_view = requests.post(f"{server.base_url}/rest/api/3/issue/bulkfetch", json=body, auth=API)
    (api_issue,) = api_view.json()["issues"]
    assert all(api_issue["fields"].get(f) is None for f in sla_ids)
    gateway = f"{server.sla_base_url}/ex/jira/{server.cloud_id}/rest/api/3/issue/bulkfetch"
    (jsm_issue,) = requests.post(gateway, json=body, auth=SLA).json()["issues"]
    shown = [jsm_issue["fields"][f] for f in sla_ids if jsm_issue["fields"].get(f)]
    served = requests.get(_sla_url(server, key), auth=SLA).json()["values"]
    assert shown and sorted(s["name"] for s in shown) == sorted(s["name"] for s in served)
