"""The deployment's Jira site, JSM SLA account and data root, as Dagster resources.

Every value comes from :class:`~jira_pipeline.config.Settings`, read from the environment
of the process (and ``.env``) when the code location loads. The resources have no config
schema on purpose: whoever can launch a run (the UI, GraphQL) cannot point the API token at
another host, swap in another credential or ``{env: …}`` variable, or move the data root;
a run config naming any of it is refused before the run starts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from dagster import ResourceDefinition

from jira_pipeline.config import Settings, deployment_settings
from jira_pipeline.defs.problems import fail_on_config_problem
from jira_pipeline.jira.client import JiraClient
from jira_pipeline.jira.sla import JsmSlaClient
from jira_pipeline.storage.auth_state import auth_recorder, clear_config_problem
from jira_pipeline.storage.paths import DataRoot


class JiraResource:
    """Jira Cloud REST v3 (Basic auth with an API token) of the deployment."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def client(self, root: DataRoot) -> JiraClient:
        """A new client; ``root`` receives the "rotate the token" state on a 401."""
        return JiraClient.from_settings(self._settings, on_auth=auth_recorder(root))


class JsmSlaResource:
    """The JSM SLA account (separate credentials); optional."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def client(self, root: DataRoot) -> JsmSlaClient | None:
        """``None`` when no SLA account is configured (a warning in the run, not a failure)."""
        return JsmSlaClient.from_settings(self._settings, on_auth=auth_recorder(root))


class DataRootResource:
    """Where raw JSON, the inbox and the Parquet tables live, and the backfill scope."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def root(self) -> DataRoot:
        return DataRoot(self._settings.data_root)

    def dist(self) -> Path | None:
        return self._settings.dist_dir

    @property
    def jql(self) -> str:
        """``JIRA_JQL``: scope of whole-month runs and reconcile."""
        return self._settings.jql

    @property
    def webhook_retention_days(self) -> int:
        """``JIRA_WEBHOOK_RETENTION_DAYS``: how long signed webhook bodies are kept."""
        return self._settings.webhook_retention_days


def _without_config(resource: object) -> ResourceDefinition:
    """``resource`` behind an empty config schema: a run config that names any field for it
    is refused when the run is launched (Dagster would silently accept, and ignore, config
    for a bare object)."""
    return ResourceDefinition(
        resource_fn=lambda _: resource,
        config_schema={},
        description=(type(resource).__doc__ or "").strip()
        + " Set by the deployment's environment; not configurable per run.",
    )


def resources_from_settings(settings: Settings) -> dict[str, ResourceDefinition]:
    """The code location's resources, all built from one :class:`Settings`."""
    return {
        "jira": _without_config(JiraResource(settings)),
        "jsm_sla": _without_config(JsmSlaResource(settings)),
        "data": _without_config(DataRootResource(settings)),
    }


def resources_from_env() -> dict[str, ResourceDefinition]:
    """The resources of the deployment: settings from the environment (and ``.env``)."""
    return resources_from_settings(deployment_settings())


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
