"""Whoever can launch a run (the UI, GraphQL) cannot choose where the Jira token goes: the
resources take hosts, credentials and paths from the deployment's settings only, and a Jira
URL that would carry credentials unsafely is refused before any request."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from dagster import DagsterInvalidConfigError

from jira_pipeline.config import ConfigError, check_host_name, check_jira_url, load_settings
from jira_pipeline.defs.jobs import jira_reconcile_job
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline_tests.fixtures.code_location import code_location
from jira_pipeline_tests.fixtures.mirror import resources_for


class Listener:
    """A loopback socket that records every byte anyone sends it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = bytearray()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    while chunk := conn.recv(65536):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


HOSTILE_RUN_CONFIGS = {
    "another host": {"jira": {"config": {"base_url": "LISTENER"}}},
    "another token": {"jira": {"config": {"api_token": {"env": "JIRA_WEBHOOK_SECRET"}}}},
    "another SLA host": {"jsm_sla": {"config": {"base_url": "LISTENER"}}},
    "another data root": {"data": {"config": {"data_root": "/tmp/elsewhere"}}},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_RUN_CONFIGS))
def test_run_config_cannot_choose_hosts_credentials_or_paths(
    case, simulator, data_root, listener
) -> None:
    resources = {
        name: {"config": {k: (listener.url if v == "LISTENER" else v) for k, v in c["config"].items()}}
        for name, c in HOSTILE_RUN_CONFIGS[case].items()
    }
    with pytest.raises(DagsterInvalidConfigError):
        jira_reconcile_job.execute_in_process(
            run_config={"resources": resources},
            resources=resources_for(simulator.env(), data_root),
        )
    # The code location's own jobs, as the UI and GraphQL launch them, refuse it too.
    with pytest.raises(DagsterInvalidConfigError):
        code_location().resolve_job_def("jira_reconcile_job").execute_in_process(
            run_config={"resources": resources}
        )
    assert listener.connections == 0 and bytes(listener.received) == b""
    assert simulator.request_count == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://jira.example.com",  # clear text off the machine
        "ftp://jira.example.com",
        "https://user:pw@evil.example.com",
        "https://jira.example.com@evil.example.com",
        "https://jira.example.com/?next=https://evil",
        "https://jira.example.com#frag",
        "https://",
        "jira.example.com",
    ],
)
def test_unsafe_jira_urls_are_refused_with_the_setting_named(url) -> None:
    with pytest.raises(ConfigError, match="JIRA_BASE_URL"):
        check_jira_url(url, "JIRA_BASE_URL")
    settings = load_settings({"JIRA_BASE_URL": url, "JIRA_EMAIL": "a@b.c", "JIRA_API_TOKEN": "t"})
    with pytest.raises(ConfigError, match="JIRA_BASE_URL"):
        JiraClient.from_settings(settings)


@pytest.mark.parametrize(
    "url",
    ["https://example.atlassian.net", "https://api.atlassian.com/", "http://127.0.0.1:8080",
     "http://localhost:9000", "http://[::1]:9000"],
)
def test_https_hosts_and_loopback_http_are_accepted(url) -> None:
    assert check_jira_url(url, "JIRA_BASE_URL") == url.rstrip("/")


@pytest.mark.parametrize(
    "domain", ["user@evil.example.com", "evil.example.com/path", "https://x.atlassian.net",
               "x.atlassian.net?a=b", "", "-bad.example.com", "x..atlassian.net"],
)
def test_jira_domain_must_be_a_host_name(domain) -> None:
    with pytest.raises(ConfigError, match="JIRA_DOMAIN"):
        check_host_name(domain)
    if domain:
        settings = load_settings({"JIRA_DOMAIN": domain, "JIRA_EMAIL": "a", "JIRA_API_TOKEN": "t"})
        with pytest.raises(ConfigError, match="JIRA_DOMAIN"):
            JiraClient.from_settings(settings)


def test_a_real_domain_builds_an_https_url() -> None:
    settings = load_settings({"JIRA_DOMAIN": "acme.atlassian.net"})
    assert settings.base_url == "https://acme.atlassian.net"


def test_the_sla_gateway_is_checked_too() -> None:
    settings = load_settings({
        "JIRA_SLA_BASE_URL": "http://gateway.example.com", "JIRA_SLA_EMAIL": "s",
        "JIRA_SLA_API_TOKEN": "t", "JIRA_CLOUD_ID": "c",
    })
    with pytest.raises(ConfigError, match="JIRA_SLA_BASE_URL"):
        JsmSlaClient.from_settings(settings)
