"""The simulator serves a site of any size from its seed: serving issues, however many and
however often, never grows its caches past their bounds (sizes checked, not RSS)."""

from __future__ import annotations

import hashlib

import requests

from jira_pipeline.sandbox.simulator import (
    DEFAULT_EMAIL,
    DEFAULT_TOKEN,
    SimulatedJira,
    SimulatorServer,
)

ISSUES = 700  # more than the 512 generated states kept: the cache must evict


def _serve_everything(server: SimulatorServer, http: requests.Session) -> dict[str, str]:
    """GET every issue (with changelog) and its remote links, plus 20 distinct searches;
    returns a digest of each issue body served."""
    digests = {}
    for key in list(server.jira.keys()):
        issue = http.get(f"{server.base_url}/rest/api/3/issue/{key}",
                         params={"expand": "renderedFields,changelog"})
        assert issue.status_code == 200
        digests[key] = hashlib.sha256(issue.content).hexdigest()
        assert http.get(f"{server.base_url}/rest/api/3/issue/{key}/remotelink").ok
    for days in range(20):
        found = http.get(f"{server.base_url}/rest/api/3/search/jql",
                         params={"jql": f"updated >= -{days + 1}d ORDER BY key", "fields": "id"})
        assert found.status_code == 200
    return digests


def test_serving_every_issue_twice_keeps_caches_within_their_bounds() -> None:
    jira = SimulatedJira(seed=4, issues=ISSUES)
    with SimulatorServer(jira) as server, requests.Session() as http:
        http.auth = (DEFAULT_EMAIL, DEFAULT_TOKEN)
        first = _serve_everything(server, http)
        after_first = jira.cache_sizes()
        second = _serve_everything(server, http)
        after_second = jira.cache_sizes()
    assert len(first) == ISSUES
    assert second == first  # evicted issues come back byte-identical from the seed
    assert after_second == after_first  # a second round grows nothing
    assert after_second["states"] == after_second["states_max"] < ISSUES
    assert after_second["searches"] == after_second["searches_max"] < 20
    assert after_second["materialised"] == 0  # reading never pins an issue in memory

