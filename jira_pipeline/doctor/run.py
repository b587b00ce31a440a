"""Runs every check in order; a failed prerequisite (no credentials) turns the checks that
need it into one ``fail``/``warn`` line each instead of a cascade of errors."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass

from dagster import DagsterInstance

from jira_pipeline.config import Settings
from jira_pipeline.doctor import dagster_checks, jira_checks, jsm_checks, storage_checks
from jira_pipeline.doctor import settings_checks as sc
from jira_pipeline.doctor.check import FAIL, OK, Check, fail, warn
from jira_pipeline.doctor.webhook_checks import check_receiver, send_test_delivery
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.http import JiraError, RetryPolicy
from jira_pipeline.storage.paths import DataRoot

QUICK_RETRIES = RetryPolicy(total=2, backoff_factor=0.2, backoff_max=2, retry_after_max=5)


@dataclass(frozen=True)
class DoctorOptions:
    receiver_url: str | None = None
    send_test: bool = False
    check_dagster: bool = True  # off (--no-dagster) on a host that runs no Dagster
    wait_s: float = 180


def _jira_checks(settings: Settings, root: DataRoot) -> tuple[list[Check], dict]:
    """The API account's checks, then JSM's; ``facts`` carries what later checks need."""
    facts: dict = {"issues": None, "newest": None}
    try:
        client = JiraClient.from_settings(settings, retry=QUICK_RETRIES)
    except JiraError as exc:
        return [fail("api credentials", str(exc))], facts
    with closing(client):
        credentials, myself = jira_checks.check_credentials(client)
        if myself is None:
            return [credentials], facts
        checks = [credentials, jira_checks.check_time_zone(myself)]
        try:
            projects = jira_checks.browsable_projects(client)
        except JiraError as exc:
            projects = []
            checks.append(warn("project access", f"project/search unreadable: {exc}"))
        try:
            survey = jira_checks.survey_scope(client, settings.jql)
        except JiraError as exc:
            checks.append(fail("scope", jira_checks.problem_line(exc)))
            survey = None
        else:
            facts["issues"], facts["newest"] = survey.count, survey.newest
            checks += [jira_checks.check_scope(survey, settings.jql),
                       jira_checks.check_months(survey, settings.start_month)]
        if projects:
            checks.append(jira_checks.check_project_access(projects, settings.jql, root))
        fields_check, field_list = jira_checks.check_fields(client)
        checks.append(fields_check)
        if survey is not None and survey.newest is not None:
            checks.append(jira_checks.check_bulk_endpoints(client, survey.newest["key"]))
            checks.append(jira_checks.check_attachments(client, settings.jql))
        checks.append(jsm_checks.check_cloud_id(client, settings))
        desk_key = None
        if survey is not None:
            try:
                desk_key = jsm_checks.service_desk_issue(client, projects, settings.jql)
            except JiraError:
                desk_key = None
        sla_check, sla_sees = jsm_checks.check_sla_account(settings, desk_key)
        checks.append(sla_check)
        checks.append(jsm_checks.check_sla_fields(client, field_list, desk_key, sla_sees))
    return checks, facts


def _dagster(env: Mapping[str, str]) -> tuple[list[Check], bool]:
    home_check, home = dagster_checks.check_dagster_home(env)
    if home is None:
        return [home_check], False
    with DagsterInstance.from_config(str(home)) as instance:
        daemon = dagster_checks.check_daemon(instance)
        automation = dagster_checks.check_automation(instance, daemon.status == OK)
    return [home_check, daemon, automation], daemon.status == OK


def run_doctor(
    settings: Settings,
    sources: sc.SettingSources,
    env: Mapping[str, str],
    options: DoctorOptions = DoctorOptions(),
) -> list[Check]:
    """Every check, in the order a new user fixes things."""
    root = DataRoot(settings.data_root)
    checks = [
        sc.check_jira_settings(settings, sources),
        sc.check_sla_settings(settings, sources),
    ]
    facts: dict = {"issues": None, "newest": None}
    if checks[0].status != FAIL:
        jira_part, facts = _jira_checks(settings, root)
        checks += jira_part
    checks += [sc.check_webhook_secret(settings, sources), check_receiver(options.receiver_url)]
    checks.append(storage_checks.check_writable("JIRA_DATA_ROOT", settings.data_root))
    if settings.dist_dir is not None:
        checks.append(storage_checks.check_writable("JIRA_DIST_DIR", settings.dist_dir))
    checks.append(storage_checks.check_disk(root, facts["issues"]))
    daemon_running = False
    if options.check_dagster:
        dagster_part, daemon_running = _dagster(env)
        checks += dagster_part
    if options.send_test:
        checks.append(
            send_test_delivery(
                options.receiver_url,
                settings.webhook_secret,
                root,
                facts["newest"],
                daemon_running=daemon_running,
                wait_s=options.wait_s,
            )
        )
    return checks
