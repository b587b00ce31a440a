"""What the services will read: which settings are set, and for secrets only whether,
how long and from where (the process environment or the ``.env`` file), never the value."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from jira_pipeline.config import Settings, load_settings
from jira_pipeline.doctor.check import Check, fail, ok, warn
from jira_pipeline.jira.signature import MIN_SECRET_LENGTH


@dataclass(frozen=True)
class SettingSources:
    """Variable names set in the process environment, and those only the ``.env`` file set."""

    environment: frozenset[str]
    dotenv: frozenset[str]

    def source(self, name: str) -> str:
        if name in self.environment:
            return "environment"
        return ".env file" if name in self.dotenv else "unset"


def load_with_sources(load: Callable[[], Settings] = load_settings) -> tuple[Settings, SettingSources]:
    """:func:`load_settings` as the services call it, noting which variables the ``.env``
    file added (it never overrides the environment)."""
    before = frozenset(os.environ)
    settings = load()
    return settings, SettingSources(before, frozenset(os.environ) - before)


def describe_secret(name: str, value: str, sources: SettingSources) -> str:
    """``JIRA_API_TOKEN set (24 chars, environment)`` or ``JIRA_API_TOKEN not set``."""
    if not value:
        return f"{name} not set"
    return f"{name} set ({len(value)} chars, {sources.source(name)})"


def check_jira_settings(settings: Settings, sources: SettingSources) -> Check:
    """The API account: site, email and token must all be set."""
    missing = [
        name
        for name, value in (
            ("JIRA_BASE_URL or JIRA_DOMAIN", settings.base_url),
            ("JIRA_EMAIL", settings.email),
            ("JIRA_API_TOKEN", settings.api_token),
        )
        if not value
    ]
    found = (
        f"site {settings.base_url or '?'}, JIRA_EMAIL {settings.email or '?'}, "
        f"{describe_secret('JIRA_API_TOKEN', settings.api_token, sources)}"
    )
    if missing:
        return fail("settings", f"{found}; set {', '.join(missing)} (environment or .env)")
    scope = f'JIRA_JQL "{settings.jql}"' if settings.jql else "JIRA_JQL unset (every project)"
    return ok("settings", f"{found}; {scope}; JIRA_START_MONTH {settings.start_month}")


def check_sla_settings(settings: Settings, sources: SettingSources) -> Check:
    """The JSM SLA account is optional, but all three variables or none."""
    parts = {
        "JIRA_SLA_EMAIL": settings.sla_email,
        "JIRA_SLA_API_TOKEN": settings.sla_api_token,
        "JIRA_CLOUD_ID": settings.cloud_id,
    }
    found = (
        f"JIRA_SLA_EMAIL {settings.sla_email or 'not set'}, "
        f"{describe_secret('JIRA_SLA_API_TOKEN', settings.sla_api_token, sources)}, "
        f"JIRA_CLOUD_ID {settings.cloud_id or 'not set'}"
    )
    missing = [name for name, value in parts.items() if not value]
    if not missing:
        return ok("sla settings", found)
    if len(missing) == len(parts):
        return warn(
            "sla settings",
            "no SLA account: the SLA overlay is skipped and SLA columns come only from issue "
            "fields; set JIRA_SLA_EMAIL, JIRA_SLA_API_TOKEN and JIRA_CLOUD_ID for JSM SLAs",
        )
    return fail("sla settings", f"{found}; set {', '.join(missing)} too (or none of them)")


def check_webhook_secret(settings: Settings, sources: SettingSources) -> Check:
    """The receiver refuses every delivery without a secret or with a short (guessable)
    one. Whitespace around it (a copy-paste) is stripped when the settings are read, so it
    is a warning: Jira's side must be the stripped value."""
    secret = settings.webhook_secret
    described = describe_secret("JIRA_WEBHOOK_SECRET", secret, sources)
    if not secret:
        return fail(
            "webhook secret",
            f"{described}: the receiver refuses every delivery; set it to the secret "
            "entered in Jira's webhook (System → WebHooks)",
        )
    if len(secret) < MIN_SECRET_LENGTH:
        return fail(
            "webhook secret",
            f"{described}: shorter than {MIN_SECRET_LENGTH} chars, the receiver "
            "answers 503 to every delivery; set a longer "
            "JIRA_WEBHOOK_SECRET (e.g. `openssl rand -hex 32`) here and in Jira's webhook",
        )
    if os.environ.get("JIRA_WEBHOOK_SECRET", secret) != secret:
        return warn(
            "webhook secret",
            f"{described} after stripping surrounding whitespace: the services use the "
            "stripped value; remove the whitespace from JIRA_WEBHOOK_SECRET and make sure "
            "Jira's webhook secret has none",
        )
    return ok("webhook secret", described)
