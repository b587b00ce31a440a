"""A run that hits a configuration problem ends with one line naming the setting to change
(the Dagster failure message, no retry), and the receiver's health shows it until a later
run gets through. Real materializations against the simulator over HTTP."""

from __future__ import annotations

import errno

import pytest
from dagster import DagsterInstance, materialize

from jira_pipeline.config import Settings
from jira_pipeline.config_problems import config_problem
from jira_pipeline.defs.assets import jira_month
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.http import JiraError
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.sandbox.simulator import Faults, SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer, SiteSetup
from jira_pipeline.storage.atomic import FILE_MODE
from jira_pipeline.storage.auth_state import read_config_problem
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import iter_issue_keys, load_issue
from jira_pipeline_tests.fixtures.mirror import resources_for
from jira_pipeline_tests.fixtures.receiver import HEALTH_PATH, receiver_config
from webhook_receiver import create_app

MONTH = "2024-02"


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(SimulatedJira(seed=4, issues=30, start_month="2024-01", months=3)) as s:
        yield s


def failed_run(env: dict, root: DataRoot, jql: str = ""):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [jira_month],
            partition_key=MONTH,
            resources=resources_for(env, root, jql),
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    return failure.step_failure_data


def health(root: DataRoot) -> dict:
    return create_app(receiver_config(root)).test_client().get(HEALTH_PATH).get_json()


@pytest.mark.parametrize(
    ("env_change", "jql", "setting", "words"),
    [
        ({"JIRA_API_TOKEN": "revoked-token-9876"}, "", "JIRA_API_TOKEN", ["401", "JIRA_API_TOKEN"]),
        ({}, "project = NOPE", "JIRA_JQL", ["Jira rejected the JQL", "NOPE", "fix JIRA_JQL"]),
    ],
    ids=["401", "400-jql"],
)
def test_run_ends_with_one_line_naming_the_setting(server, tmp_path, env_change, jql, setting, words):
    root = DataRoot(tmp_path / "data")
    failure = failed_run({**server.env(), **env_change}, root, jql)
    line = failure.user_failure_data.description
    assert "\n" not in line and all(w in line for w in words), line
    assert failure.error.message.strip().endswith(line)  # the run's failure message
    assert "revoked-token-9876" not in line
    recorded = read_config_problem(root)
    assert recorded["setting"] == setting and recorded["line"] == line
    shown = health(root)
    assert shown["config_problem"]["line"] == line and line in shown["problems"]
    assert shown["status"] == "degraded"

    # Fixed configuration: the next run gets through and the problem is forgotten
    with DagsterInstance.ephemeral() as instance:
        assert materialize([jira_month], partition_key=MONTH, instance=instance,
                           resources=resources_for(server.env(), root)).success
    assert read_config_problem(root) is None and health(root)["config_problem"] is None


def test_http_failures_map_to_their_settings(server):
    env = server.env()
    settings = Settings(jira_base_url=env["JIRA_BASE_URL"], email=env["JIRA_EMAIL"],
                        api_token=env["JIRA_API_TOKEN"], sla_base_url=env["JIRA_SLA_BASE_URL"],
                        sla_email=env["JIRA_SLA_EMAIL"], sla_api_token=env["JIRA_SLA_API_TOKEN"],
                        cloud_id="1111-not-this-site")
    with pytest.raises(JiraError) as wrong_cloud:
        JsmSlaClient.from_settings(settings).get_json(
            "/ex/jira/1111-not-this-site/rest/servicedeskapi/request/SUPPORT-1/sla")
    assert config_problem(wrong_cloud.value).setting == "JIRA_CLOUD_ID"

    server.setup = SiteSetup(sla_agent=False)
    try:
        sla = JsmSlaClient.from_settings(Settings(**{**settings.__dict__,
                                                     "cloud_id": env["JIRA_CLOUD_ID"]}))
        with pytest.raises(JiraError) as forbidden:
            sla.get_slas("SUPPORT-1")
    finally:
        server.setup = SiteSetup()
    problem = config_problem(forbidden.value)
    assert problem.setting == "JIRA_SLA_EMAIL" and "agent role" in problem.line
    assert "SUPPORT" in problem.line

    with pytest.raises(JiraError) as jql:
        list(JiraClient.from_settings(settings).iter_search_jql("project = NOPE"))
    assert config_problem(jql.value).setting == "JIRA_JQL"


def test_unwritable_paths_name_their_setting(tmp_path):
    """The error as ``open`` raises it for a directory this user cannot write (the tests
    run as root here, which writes through any mode, so it is built, not provoked)."""
    root, dist = tmp_path / "data", tmp_path / "dist"
    paths = {"JIRA_DIST_DIR": dist, "JIRA_DATA_ROOT": root}
    denied = PermissionError(errno.EACCES, "Permission denied", str(root / "raw" / "x.json"))
    problem = config_problem(denied, paths)
    assert problem.setting == "JIRA_DATA_ROOT" and "not writable" in problem.line
    assert "files are written 0640" in problem.line  # the mode the pipeline writes
    assert oct(FILE_MODE) == "0o640"
    full = OSError(errno.ENOSPC, "No space left on device", str(dist / "issues.parquet"))
    assert config_problem(full, paths).setting == "JIRA_DIST_DIR"
    assert config_problem(OSError(errno.ENOENT, "gone", str(root)), paths) is None


@pytest.mark.parametrize("bulk_status", [0, 404], ids=["bulk", "per-issue"])
def test_cloud_id_of_another_site_ends_the_run_and_keeps_the_stored_slas(tmp_path, bulk_status):
    """Under another site's cloud id the gateway answers 404 on every path, which the SLA
    reads took for "no SLA here" (bulk view unavailable, then each request not found): the
    run succeeded and stored every ticket without its SLAs. It must end with the one line
    naming JIRA_CLOUD_ID, and what is stored must stay."""
    root = DataRoot(tmp_path / "data")
    site = SimulatedJira(seed=4, issues=30, start_month="2024-01", months=3, api_sees_sla=False)
    with SimulatorServer(site, faults=Faults(bulk_status=bulk_status)) as server:
        with DagsterInstance.ephemeral() as instance:
            assert materialize([jira_month], partition_key=MONTH, instance=instance,
                               resources=resources_for(server.env(), root)).success
        before = {key: load_issue(root, key).get("_sla") for key in iter_issue_keys(root)}
        assert any(before.values())  # service-desk tickets with SLA records
        failure = failed_run({**server.env(), "JIRA_CLOUD_ID": "1111-not-this-site"}, root)
    line = failure.user_failure_data.description
    assert "JIRA_CLOUD_ID" in line and "cloud id" in line and "\n" not in line, line
    assert read_config_problem(root)["setting"] == "JIRA_CLOUD_ID"
    assert health(root)["config_problem"]["line"] == line
    assert {key: load_issue(root, key).get("_sla") for key in before} == before
