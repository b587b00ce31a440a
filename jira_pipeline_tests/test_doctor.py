"""``jira-pipeline doctor`` against the simulator over real HTTP: healthy, it prints only
``ok`` lines; each first-contact misconfiguration is named in its line with the setting
to change, and the exit status is non-zero. No secret ever reaches the output."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import orjson
import pytest
from dagster import DagsterInstance
from dotenv import load_dotenv

from jira_pipeline.cli import main
from jira_pipeline.config import load_settings
from jira_pipeline.doctor.check import EXIT_FAIL, EXIT_OK, EXIT_WARN
from jira_pipeline.doctor.dagster_checks import TEMP_DIRS, check_daemon, check_dagster_home
from jira_pipeline.doctor.jira_checks import check_fields
from jira_pipeline.doctor.settings_checks import describe_secret, load_with_sources
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.sandbox.processes import COMMITTED_DAGSTER_YAML
from jira_pipeline.sandbox.simulator import Faults, SimulatedJira
from jira_pipeline.sandbox.simulator.server import SimulatorServer, SiteSetup
from jira_pipeline.storage.inbox import list_pending
from jira_pipeline.storage.paths import DataRoot
from jira_pipeline.storage.raw_store import save_issue
from jira_pipeline.transform.field_map import MAPPING, ColumnSpec, FieldMapping
from jira_pipeline_tests.fixtures.dagster_daemon import running_daemon, wait_for
from jira_pipeline_tests.fixtures.receiver import TEST_SECRET, running_receiver

JIRA_VARS = ("JIRA_JQL", "JIRA_START_MONTH", "JIRA_DIST_DIR", "JIRA_WEBHOOK_SECRET")


@pytest.fixture(scope="module")
def site():
    return SimulatedJira(seed=3, issues=40, start_month="2024-01", months=6)


def doctor(server, tmp_path, monkeypatch, capsys, *args, dagster=False, **env):
    """Run ``jira-pipeline doctor --json`` in-process with the server's environment."""
    for name in JIRA_VARS:
        monkeypatch.delenv(name, raising=False)
    values = {**server.env(), "JIRA_DATA_ROOT": str(tmp_path / "data"),
              "JIRA_WEBHOOK_SECRET": TEST_SECRET, "JIRA_START_MONTH": "2024-01", **env}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(["doctor", "--json", *(() if dagster else ("--no-dagster",)), *args])
    out = capsys.readouterr().out
    report = orjson.loads(out)
    assert report["exit_code"] == code
    return code, {c["name"]: c for c in report["checks"]}, out


def test_healthy_site_is_all_ok(site, tmp_path, monkeypatch, capsys):
    root = DataRoot(tmp_path / "data")
    with SimulatorServer(site) as server, running_receiver(root) as receiver:
        code, checks, out = doctor(server, tmp_path, monkeypatch, capsys,
                                   "--receiver-url", receiver.url, "--send-test")
    assert {n: c["status"] for n, c in checks.items() if c["status"] != "ok"} == {}, out
    assert code == EXIT_OK
    assert checks["bulk endpoints"]["message"] == "POST /rest/api/3/issue/bulkfetch available"
    assert "40 issues in 2 projects" in checks["scope"]["message"]
    assert "in the inbox" in checks["test delivery"]["message"]
    assert len(list_pending(root)) == 1  # the signed test delivery reached the inbox
    secrets = [TEST_SECRET, server.env()["JIRA_API_TOKEN"], server.env()["JIRA_SLA_API_TOKEN"]]
    assert not [s for s in secrets if s in out]
    assert f"JIRA_API_TOKEN set ({len(secrets[1])} chars, environment)" in out


@pytest.mark.parametrize(
    ("setup", "env", "check", "words", "code"),
    [
        (SiteSetup(unbrowsable_projects=("ENG",)), {"JIRA_JQL": "project in (SUPPORT, ENG)"},
         "project access", ["cannot browse ENG", "Browse projects", "JIRA_JQL"], EXIT_FAIL),
        (SiteSetup(sla_agent=False), {}, "sla account",
         ["JIRA_SLA_EMAIL", "agent role", "SUPPORT"], EXIT_FAIL),
        (SiteSetup(), {"JIRA_CLOUD_ID": "0000-wrong-cloud"}, "cloud id",
         ["JIRA_CLOUD_ID", "another site"], EXIT_FAIL),
        (SiteSetup(time_zone="Europe/Berlin"), {}, "time zone",
         ["Europe/Berlin", "not UTC", "month"], EXIT_WARN),
        (SiteSetup(), {"JIRA_JQL": "project = SUPPORT OR priority = High"}, "scope",
         ["JIRA_JQL", "Jira rejected"], EXIT_FAIL),
        (SiteSetup(), {"JIRA_API_TOKEN": "revoked-token-0123"}, "api credentials",
         ["401", "JIRA_API_TOKEN"], EXIT_FAIL),
        (SiteSetup(), {"JIRA_WEBHOOK_SECRET": " x7Q2p "}, "webhook secret",
         ["5 chars", "shorter than 16", "503", "JIRA_WEBHOOK_SECRET"], EXIT_FAIL),
        (SiteSetup(), {"JIRA_WEBHOOK_SECRET": f" {TEST_SECRET}\n"}, "webhook secret",
         ["whitespace", "stripped", "JIRA_WEBHOOK_SECRET"], EXIT_WARN),
        (SiteSetup(), {"JIRA_START_MONTH": "2030-01"}, "months",
         ["2024-01", "JIRA_START_MONTH 2030-01 is after all of them",
          "set JIRA_START_MONTH to 2024-01"], EXIT_FAIL),
    ],
    ids=["unbrowsable-project", "sla-without-agent-role", "wrong-cloud-id", "time-zone",
         "rejected-jql", "revoked-token", "secret-too-short", "secret-whitespace",
         "start-month-after-every-issue"],
)
def test_each_misconfiguration_is_named_in_its_line(
    site, tmp_path, monkeypatch, capsys, setup, env, check, words, code
):
    with SimulatorServer(site, setup=setup) as server:
        got, checks, out = doctor(server, tmp_path, monkeypatch, capsys, **env)
    line = checks[check]
    assert line["status"] == ("warn" if code == EXIT_WARN else "fail"), line
    assert all(w in line["message"] for w in words), line
    assert got == code if code == EXIT_FAIL else got >= code
    for value in env.values():
        if "token" in value or "short" in value:
            assert value.strip() not in out


@pytest.mark.parametrize("status", [404, 403])
def test_site_without_bulk_endpoints_warns_that_the_fallback_is_in_use(
    site, tmp_path, monkeypatch, capsys, status
):
    """An older site (404) or a missing permission (403): per-issue reads, one warn line."""
    with SimulatorServer(site, faults=Faults(bulk_status=status)) as server:
        code, checks, out = doctor(server, tmp_path, monkeypatch, capsys)
    line = checks.pop("bulk endpoints")
    assert line["status"] == "warn" and code == EXIT_WARN, out
    assert f"answered {status}" in line["message"] and "per-issue fallback" in line["message"]
    assert {n: c["status"] for n, c in checks.items() if c["status"] == "fail"} == {}, out


@pytest.mark.parametrize("layout", ["sharded", "earlier"])
def test_unbrowsable_project_with_stored_issues_is_named(site, tmp_path, monkeypatch, capsys,
                                                         layout):
    """Without the JQL naming it, a hidden project still shows through the raw store, in
    the sharded compressed layout the store writes and in the earlier ``KEY.json`` one."""
    root = DataRoot(tmp_path / "data")
    live = site.keys()
    key = next(k for k in live if k.startswith("ENG-"))
    if layout == "sharded":
        save_issue(root, site.issue_json(key))
        assert root.issue_file(key).is_file()
    else:
        root.issues_dir.mkdir(parents=True)
        root.legacy_issue_file(key).write_bytes(orjson.dumps(site.issue_json(key)))
    with SimulatorServer(site, setup=SiteSetup(unbrowsable_projects=("ENG",))) as server:
        code, checks, _ = doctor(server, tmp_path, monkeypatch, capsys)
    assert code == EXIT_FAIL
    assert "ENG (1 issues in the raw store)" in checks["project access"]["message"]
    assert "20 issues in 1 projects" in checks["scope"]["message"]


def test_disk_projection_measures_the_stored_records(site, tmp_path, monkeypatch, capsys):
    """Bytes per issue come from the records the raw store wrote (compressed, sharded),
    not the default for an empty store."""
    root = DataRoot(tmp_path / "data")
    keys = site.keys()[:10]
    for key in keys:
        save_issue(root, site.issue_json(key))
    per_issue = sum(root.issue_file(k).stat().st_size for k in keys) / len(keys)
    with SimulatorServer(site) as server:
        _, checks, out = doctor(server, tmp_path, monkeypatch, capsys)
    message = checks["disk"]["message"]
    assert "measured on 10 stored issues" in message, out
    assert f"× {per_issue / 1024:.0f} KiB" in message, message


def test_unwritable_data_root_and_dist_dir_are_named(site, tmp_path, monkeypatch, capsys):
    """A data root the user cannot create (a file stands where its folder should be) and a
    world-writable dist dir: one line each, naming the setting."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    dist = tmp_path / "dist"
    dist.mkdir()
    dist.chmod(0o777)
    with SimulatorServer(site) as server:
        code, checks, out = doctor(server, tmp_path, monkeypatch, capsys,
                                   JIRA_DATA_ROOT=str(blocker / "data"), JIRA_DIST_DIR=str(dist))
    assert code == EXIT_FAIL
    data = checks["data root"]
    assert data["status"] == "fail" and "JIRA_DATA_ROOT" in data["message"], out
    assert "not writable by this user" in data["message"]
    shared = checks["dist dir"]
    assert shared["status"] == "warn" and "JIRA_DIST_DIR" in shared["message"], out
    assert "world-writable" in shared["message"]


def test_a_mapped_field_the_site_lacks_is_reported_unresolved(site, tmp_path):
    """A column of the field mapping that resolves to no field of this site is named, with
    the file to edit; the others still resolve."""
    missing = ColumnSpec("team", "Team (no such field)", None, "string")
    mapping = FieldMapping(columns=(*MAPPING.columns, missing), slas=MAPPING.slas)
    with SimulatorServer(site) as server:
        client = JiraClient.from_settings(load_settings(server.env()))
        check, field_list = check_fields(client, mapping)
    assert field_list and check.status == "warn", check
    assert "unresolved (stay null): team (Team (no such field))" in check.message
    total = len(mapping.columns) + len(mapping.slas)
    assert f"{total - 1} of {total} mapped columns resolve" in check.message
    assert "field_mapping.toml" in check.message


def test_a_receiver_with_another_secret_or_none_at_the_url_is_named(
    site, tmp_path, monkeypatch, capsys
):
    """"A webhook secret that differs from Jira's": the signed test delivery is refused
    (401) and the line says which setting to align; a URL where no receiver answers is
    named too. Neither secret reaches the output."""
    root = DataRoot(tmp_path / "data")
    other_secret = "the-receivers-own-secret-0123456789"
    with SimulatorServer(site) as server, running_receiver(root, secret=other_secret) as receiver:
        code, checks, out = doctor(server, tmp_path, monkeypatch, capsys,
                                   "--receiver-url", receiver.url, "--send-test")
    assert code == EXIT_FAIL
    line = checks["test delivery"]
    assert line["status"] == "fail" and "401" in line["message"], out
    assert "JIRA_WEBHOOK_SECRET" in line["message"]
    assert list_pending(root) == []
    assert other_secret not in out and TEST_SECRET not in out

    with SimulatorServer(site) as server:
        code, checks, out = doctor(server, tmp_path, monkeypatch, capsys,
                                   "--receiver-url", receiver.url)  # stopped: nobody answers
    assert code == EXIT_FAIL
    line = checks["receiver"]
    assert line["status"] == "fail" and "does not answer" in line["message"], out
    assert "--receiver-url" in line["message"]


def test_dagster_home_and_daemon_failures_are_named(tmp_path):
    home_check, _ = check_dagster_home({})
    assert home_check.status == "fail" and "DAGSTER_HOME is not set" in home_check.message
    temp_check, _ = check_dagster_home({"DAGSTER_HOME": str(tmp_path)})
    assert temp_check.status == "fail" and "temporary directory" in temp_check.message
    with DagsterInstance.from_config(str(tmp_path)) as instance:  # a real, idle instance
        daemon = check_daemon(instance)
    assert daemon.status == "fail" and "dagster-daemon run" in daemon.message


@pytest.mark.e2e
@pytest.mark.timeout(240)
def durable_parent() -> Path:
    """A folder doctor accepts as durable: the checkout's .dagster_home, or, when the
    checkout itself sits in a temporary directory (a CI clone in /tmp), the user's cache."""
    inside = COMMITTED_DAGSTER_YAML.parent.resolve()
    temp_roots = [Path(tempfile.gettempdir()).resolve(), *map(Path, TEMP_DIRS)]
    if not any(inside.is_relative_to(t) for t in temp_roots):
        return inside
    cache = Path.home() / ".cache" / "jira-pipeline-tests"
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def test_healthy_deployment_with_daemon_is_all_ok_into_parquet(site, tmp_path, monkeypatch,
                                                                capsys):
    """The whole first contact: simulator, receiver under gunicorn, a real dagster-daemon
    on a durable (non-temporary) DAGSTER_HOME; the signed test delivery goes through the
    sensor's run into Parquet."""
    root = DataRoot(tmp_path / "data")
    home = durable_parent() / f"test-doctor-{uuid.uuid4().hex[:8]}"
    try:
        with SimulatorServer(site) as server, running_receiver(root) as receiver:
            env = {**server.env(), "JIRA_DATA_ROOT": str(root.root), "JIRA_START_MONTH": "2024-01"}
            with running_daemon(home, env) as daemon:
                required = daemon.instance.get_required_daemon_types()
                assert wait_for(lambda: set(required) <= set(daemon.instance.get_daemon_heartbeats()),
                                timeout=90), daemon.log_text()
                code, checks, out = doctor(server, tmp_path, monkeypatch, capsys,
                                           "--receiver-url", receiver.url, "--send-test",
                                           "--wait", "150", dagster=True, DAGSTER_HOME=str(home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert {n: c["status"] for n, c in checks.items() if c["status"] != "ok"} == {}, out
    assert {"dagster daemon", "sensor and schedules", "dagster home", "bulk endpoints"} <= set(checks)
    assert "is in parquet/jira/issues/" in checks["test delivery"]["message"], out
    assert code == EXIT_OK


def test_unusable_setting_is_one_fail_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JIRA_BASE_URL", "http://jira.example.com")  # plain http, not loopback
    monkeypatch.setenv("JIRA_API_TOKEN", "secret-token-4242")
    code = main(["doctor", "--json", "--no-dagster"])
    out = capsys.readouterr().out
    (line,) = orjson.loads(out)["checks"]
    assert code == EXIT_FAIL and line["status"] == "fail" and "JIRA_BASE_URL" in line["message"]
    assert "secret-token-4242" not in out


def test_secret_source_says_env_file_or_environment(tmp_path, monkeypatch):
    """Only set/length/source is ever described; a value from ``.env`` says so."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("JIRA_WEBHOOK_SECRET=from-the-env-file-0123456789\n")
    monkeypatch.setenv("JIRA_WEBHOOK_SECRET", "")
    monkeypatch.delenv("JIRA_WEBHOOK_SECRET")  # monkeypatch restores what load_dotenv sets
    monkeypatch.setenv("JIRA_API_TOKEN", "from-the-environment-42")

    def load():
        load_dotenv(dotenv, override=False)
        return load_settings(dict(os.environ))

    settings, sources = load_with_sources(load)
    assert describe_secret("JIRA_WEBHOOK_SECRET", settings.webhook_secret, sources) == (
        "JIRA_WEBHOOK_SECRET set (28 chars, .env file)")
    assert describe_secret("JIRA_API_TOKEN", settings.api_token, sources) == (
        "JIRA_API_TOKEN set (23 chars, environment)")
    assert describe_secret("JIRA_SLA_API_TOKEN", "", sources) == "JIRA_SLA_API_TOKEN not set"
