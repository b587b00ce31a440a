"""Settings from the environment (and a ``.env`` file), with the seed's variable names.

Read once per process by :func:`load_settings`; nothing here is ever logged whole, and
``__repr__`` hides the secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import load_dotenv

SECRET_FIELDS = frozenset({"webhook_secret", "api_token", "sla_api_token"})


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _days(value: str | None, default: int) -> int:
    """A whole number of days >= 1; a typo must stop the deploy, not mean "keep nothing"."""
    text = (value or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"JIRA_WEBHOOK_RETENTION_DAYS must be a whole number >= 1, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    webhook_secret: str = field(default="", repr=False)
    jira_domain: str = ""
    jira_base_url: str = ""
    email: str = ""
    api_token: str = field(default="", repr=False)
    sla_email: str = ""
    sla_api_token: str = field(default="", repr=False)
    cloud_id: str = ""
    sla_base_url: str = "https://api.atlassian.com"
    data_root: Path = Path("./data")
    dist_dir: Path | None = None
    jql: str = ""
    start_month: str = "2024-01"
    debug: bool = False
    # Days the receiver's copies of signed deliveries are kept (prune-webhooks)
    webhook_retention_days: int = 30

    @property
    def base_url(self) -> str:
        """``JIRA_BASE_URL`` if set, else ``https://$JIRA_DOMAIN``; empty when neither is."""
        if self.jira_base_url:
            return self.jira_base_url.rstrip("/")
        return f"https://{self.jira_domain}" if self.jira_domain else ""

    @property
    def sla_configured(self) -> bool:
        return bool(self.sla_email and self.sla_api_token and self.cloud_id)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ`` after reading ``.env``)."""
    if env is None:
        load_dotenv(override=False)
        env = os.environ
    dist = env.get("JIRA_DIST_DIR", "").strip()
    return Settings(
        webhook_secret=env.get("JIRA_WEBHOOK_SECRET", ""),
        jira_domain=env.get("JIRA_DOMAIN", "").strip(),
        jira_base_url=env.get("JIRA_BASE_URL", "").strip(),
        email=env.get("JIRA_EMAIL", "").strip(),
        api_token=env.get("JIRA_API_TOKEN", ""),
        sla_email=env.get("JIRA_SLA_EMAIL", "").strip(),
        sla_api_token=env.get("JIRA_SLA_API_TOKEN", ""),
        cloud_id=env.get("JIRA_CLOUD_ID", "").strip(),
        sla_base_url=(env.get("JIRA_SLA_BASE_URL") or "https://api.atlassian.com").rstrip("/"),
        data_root=Path(env.get("JIRA_DATA_ROOT") or "./data").resolve(),
        dist_dir=Path(dist).resolve() if dist else None,
        jql=env.get("JIRA_JQL", "").strip(),
        start_month=(env.get("JIRA_START_MONTH") or "2024-01").strip()[:7],
        debug=_truthy(env.get("JIRA_DEBUG")),
        webhook_retention_days=_days(env.get("JIRA_WEBHOOK_RETENTION_DAYS"), default=30),
    )


def public_view(settings: Settings) -> dict[str, object]:
    """Settings safe to print or serve: secrets become a bool saying whether they are set."""
    view: dict[str, object] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        view[f.name] = bool(value) if f.name in SECRET_FIELDS else str(value) if value else value
    return view
