"""Configuration problems a run (or ``jira-pipeline doctor``) can hit, each named in one
line with the setting to change: a refused token (401), a project the account may not
browse (403), a cloud id of another site (404 at the gateway), JQL Jira rejects (400), a
path the service cannot write. Runs end with that line instead of a traceback."""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jira_pipeline.config import ConfigError
from jira_pipeline.jira.http import JiraAuthError, JiraHttpError
from jira_pipeline.storage.atomic import FILE_MODE
from jira_pipeline.storage.auth_state import ROTATE_HINTS

_ISSUE_IN_PATH = re.compile(r"/(?:issue|request)/([A-Z][A-Z0-9_]*)-[0-9]+")
_UNWRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC})


@dataclass(frozen=True)
class ConfigProblem:
    """What to change (``setting``, an environment variable) and the one line saying so."""

    setting: str
    line: str


def _project_of(path: str) -> str | None:
    match = _ISSUE_IN_PATH.search(path)
    return match.group(1) if match else None


def _http_problem(exc: JiraHttpError) -> ConfigProblem | None:
    jira_says = f" (Jira: {exc.detail})" if exc.detail else ""
    gateway = exc.path.startswith("/ex/jira/")
    if exc.status == 400 and "/search" in exc.path:
        return ConfigProblem(
            "JIRA_JQL", f"Jira rejected the JQL{jira_says}: fix JIRA_JQL (run jira-pipeline doctor)"
        )
    if exc.status == 404 and gateway:
        return ConfigProblem(
            "JIRA_CLOUD_ID",
            "the Atlassian gateway knows no site with this cloud id: set JIRA_CLOUD_ID to "
            "the cloudId of https://$JIRA_DOMAIN/_edge/tenant_info",
        )
    if exc.status == 403 and gateway:
        project = _project_of(exc.path) or "the service project"
        return ConfigProblem(
            "JIRA_SLA_EMAIL",
            f"JSM refused the SLA account on {project} (403): give JIRA_SLA_EMAIL the JSM "
            "agent role there, or set JIRA_SLA_EMAIL to an agent",
        )
    if exc.status == 403:
        project = _project_of(exc.path)
        where = f"project {project}" if project else exc.path
        return ConfigProblem(
            "JIRA_EMAIL",
            f"Jira refused JIRA_EMAIL on {where} (403){jira_says}: grant it 'Browse projects' "
            "there, or leave that project out of JIRA_JQL",
        )
    return None


def _path_problem(exc: OSError, paths: Mapping[str, Path]) -> ConfigProblem | None:
    if exc.errno not in _UNWRITABLE:
        return None
    failed = Path(str(exc.filename or "")).resolve() if exc.filename else None
    for setting, base in paths.items():
        if failed is not None and failed.is_relative_to(base.resolve()):
            reason = "is full" if exc.errno == errno.ENOSPC else "is not writable by this user"
            return ConfigProblem(
                setting,
                f"{setting} ({base}) {reason}: {exc.strerror} on {failed.name}; fix its "
                f"owner/mode (files are written {FILE_MODE:04o}) or point {setting} elsewhere",
            )
    return None


def config_problem(
    exc: BaseException, paths: Mapping[str, Path] | None = None
) -> ConfigProblem | None:
    """The configuration problem ``exc`` is (``None`` when it is something else: an
    outage, a bug). ``paths``: setting → directory, to name the path settings."""
    if isinstance(exc, ConfigError):
        return ConfigProblem(exc.setting, str(exc))
    if isinstance(exc, JiraAuthError):
        setting = "JIRA_SLA_API_TOKEN" if exc.credential == "sla" else "JIRA_API_TOKEN"
        return ConfigProblem(setting, ROTATE_HINTS[exc.credential])
    if isinstance(exc, JiraHttpError):
        return _http_problem(exc)
    if isinstance(exc, OSError):
        return _path_problem(exc, paths or {})
    return None
