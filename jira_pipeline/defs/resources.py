"""Configurable resources: the Jira site, the JSM SLA account and the data root.

Values come from the environment variables of DESIGN.md through ``EnvVar``, so Dagster
resolves them in the run process and the UI shows the variable name, never the value.
An optional variable that is not set falls back to its default instead of failing the
code location load (``JIRA_DOMAIN`` vs ``JIRA_BASE_URL``, the optional SLA account)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from dagster import ConfigurableResource, EnvVar

from jira_pipeline.config import Settings
from jira_pipeline.defs.problems import fail_on_config_problem
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.auth_state import clear_config_problem
from jira_pipeline.storage.paths import DataRoot


def env_or(name: str, default: str = "") -> str | EnvVar:
    """``EnvVar(name)`` when the variable is set, else ``default``."""
    return EnvVar(name) if name in os.environ else default


class JiraResource(ConfigurableResource):
    """Jira Cloud REST v3 (Basic auth with an API token)."""

    base_url: str = ""  # JIRA_BASE_URL, overrides https://$JIRA_DOMAIN
    domain: str = ""  # JIRA_DOMAIN
    email: str = ""  # JIRA_EMAIL
    api_token: str = ""  # JIRA_API_TOKEN

    def client(self, root: DataRoot) -> JiraClient:
        """A new client; ``root`` receives the "rotate the token" state on a 401."""
        settings = Settings(
            jira_base_url=self.base_url,
            jira_domain=self.domain,
            email=self.email,
            api_token=self.api_token,
        )
        return JiraClient.from_settings(settings, root)


class JsmSlaResource(ConfigurableResource):
    """The JSM SLA account (separate credentials); optional."""

    base_url: str = "https://api.atlassian.com"  # JIRA_SLA_BASE_URL
    email: str = ""  # JIRA_SLA_EMAIL
    api_token: str = ""  # JIRA_SLA_API_TOKEN
    cloud_id: str = ""  # JIRA_CLOUD_ID

    def client(self, root: DataRoot) -> JsmSlaClient | None:
        """``None`` when no SLA account is configured (a warning in the run, not a failure)."""
        settings = Settings(
            sla_base_url=self.base_url.rstrip("/"),
            sla_email=self.email,
            sla_api_token=self.api_token,
            cloud_id=self.cloud_id,
        )
        return JsmSlaClient.from_settings(settings, root)


class DataRootResource(ConfigurableResource):
    """Where raw JSON, the inbox and the Parquet tables live, and the backfill scope."""

    data_root: str = "./data"  # JIRA_DATA_ROOT
    dist_dir: str = ""  # JIRA_DIST_DIR: optional copy of changed Parquet files
    jql: str = ""  # JIRA_JQL: scope of whole-month runs and reconcile

    def root(self) -> DataRoot:
        return DataRoot(Path(self.data_root))

    def dist(self) -> Path | None:
        return Path(self.dist_dir).resolve() if self.dist_dir else None


def resources_from_env() -> dict[str, ConfigurableResource]:
    """The resources of the code location, bound to the environment variables."""
    return {
        "jira": JiraResource(
            base_url=env_or("JIRA_BASE_URL"),
            domain=env_or("JIRA_DOMAIN"),
            email=env_or("JIRA_EMAIL"),
            api_token=env_or("JIRA_API_TOKEN"),
        ),
        "jsm_sla": JsmSlaResource(
            base_url=env_or("JIRA_SLA_BASE_URL", "https://api.atlassian.com"),
            email=env_or("JIRA_SLA_EMAIL"),
            api_token=env_or("JIRA_SLA_API_TOKEN"),
            cloud_id=env_or("JIRA_CLOUD_ID"),
        ),
        "data": DataRootResource(
            data_root=env_or("JIRA_DATA_ROOT", "./data"),
            dist_dir=env_or("JIRA_DIST_DIR"),
            jql=env_or("JIRA_JQL"),
        ),
    }


@contextmanager
def open_jira_clients(
    jira: JiraResource, jsm_sla: JsmSlaResource, root: DataRoot
) -> Iterator[tuple[JiraClient, JsmSlaClient | None]]:
    """Both clients for one asset or op, closed afterwards. A configuration problem (401,
    403, 400 JQL, wrong cloud id, unwritable path) fails with one line and without run
    retries: it does not go away by retrying."""
    sla_client = jsm_sla.client(root)
    try:
        with closing(jira.client(root)) as client:
            yield client, sla_client
    except Exception as exc:
        fail_on_config_problem(exc, root)
        raise
    else:
        clear_config_problem(root)
    finally:
        if sla_client is not None:
            sla_client.close()
