"""What the deployment binds to the code location, beside the objects autoloading finds in
the other modules: the resources, built from the environment (and ``.env``) when the code
location loads, and the in-process executor, also for runs launched from the asset graph."""

from __future__ import annotations

from dagster import Definitions, definitions, in_process_executor

from jira_pipeline.defs.resources import resources_from_env


@definitions
def deployment() -> Definitions:
    return Definitions(resources=resources_from_env(), executor=in_process_executor)
