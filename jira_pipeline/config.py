"""Settings from the environment (and a ``.env`` file), with the seed's variable names.

:func:`deployment_settings` reads them once per process (the one place the Dagster code
location loads ``.env``); :func:`load_settings` builds them from any mapping. Nothing here
is ever logged whole, and ``__repr__`` hides the secrets."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

SECRET_FIELDS = frozenset({"webhook_secret", "api_token", "sla_api_token"})
DEFAULT_SLA_BASE_URL = "https://api.atlassian.com"
DEFAULT_DATA_ROOT = "./data"
DEFAULT_START_MONTH = "2024-01"
# What to change when Jira answers 401, per credential ("api": JIRA_*, "sla": JIRA_SLA_*).
ROTATE_HINTS = {
    "api": "Jira answered 401: rotate JIRA_API_TOKEN (or check JIRA_EMAIL)",
    "sla": "JSM answered 401: rotate JIRA_SLA_API_TOKEN (or check JIRA_SLA_EMAIL)",
}
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]{{1,5}})?\Z", re.ASCII)


class ConfigError(ValueError):
    """A setting of the deployment is unusable; the message names the variable to change."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


def is_loopback_host(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1 (where the simulator runs)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_jira_url(url: str, setting: str) -> str:
    """``url`` without a trailing slash, if it is a bare ``https://host[:port][/path]``.
    Plain ``http`` only for a loopback host: credentials never cross a network in clear,
    and no user-info, query or fragment can smuggle another host in."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(setting, f"not a URL: {exc}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or "@" in parts.netloc:
        raise ConfigError(setting, "must be https://host (no user, no other scheme)")
    if parts.query or parts.fragment or port == 0:
        raise ConfigError(setting, "must be https://host[:port] without a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(setting, "must use https:// (plain http only for 127.0.0.1)")
    return url.rstrip("/")


def check_host_name(domain: str, setting: str = "JIRA_DOMAIN") -> str:
    """A host name such as ``your-site.atlassian.net`` (optionally ``:port``), nothing else:
    not ``user@host``, not a URL, not a path."""
    if not _HOST_NAME.match(domain):
        raise ConfigError(setting, "must be a host name such as your-site.atlassian.net")
    return domain


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
    sla_base_url: str = DEFAULT_SLA_BASE_URL
    data_root: Path = Path(DEFAULT_DATA_ROOT)
    dist_dir: Path | None = None
    jql: str = ""
    start_month: str = DEFAULT_START_MONTH
    debug: bool = False
    # Days the receiver's copies of signed deliveries are kept (prune-webhooks)
    webhook_retention_days: int = 30

    @property
    def base_url(self) -> str:
        """``JIRA_BASE_URL`` if set, else ``https://$JIRA_DOMAIN``; empty when neither is.
        Raises :class:`ConfigError` for a host that would receive the token unsafely."""
        if self.jira_base_url:
            return check_jira_url(self.jira_base_url, "JIRA_BASE_URL")
        if self.jira_domain:
            return f"https://{check_host_name(self.jira_domain)}"
        return ""

    @property
    def sla_url(self) -> str:
        """The JSM gateway (``JIRA_SLA_BASE_URL``), checked like :attr:`base_url`."""
        return check_jira_url(self.sla_base_url, "JIRA_SLA_BASE_URL")

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
        # A Kubernetes secret made with --from-file (or an env file edited by hand) ends in
        # a newline Jira's signing never saw: kept, it made every real delivery a 401.
        webhook_secret=env.get("JIRA_WEBHOOK_SECRET", "").strip(),
        jira_domain=env.get("JIRA_DOMAIN", "").strip(),
        jira_base_url=env.get("JIRA_BASE_URL", "").strip(),
        email=env.get("JIRA_EMAIL", "").strip(),
        api_token=env.get("JIRA_API_TOKEN", ""),
        sla_email=env.get("JIRA_SLA_EMAIL", "").strip(),
        sla_api_token=env.get("JIRA_SLA_API_TOKEN", ""),
        cloud_id=env.get("JIRA_CLOUD_ID", "").strip(),
        sla_base_url=(env.get("JIRA_SLA_BASE_URL") or DEFAULT_SLA_BASE_URL).strip().rstrip("/"),
        data_root=Path(env.get("JIRA_DATA_ROOT") or DEFAULT_DATA_ROOT).resolve(),
        dist_dir=Path(dist).resolve() if dist else None,
        jql=env.get("JIRA_JQL", "").strip(),
        start_month=(env.get("JIRA_START_MONTH") or DEFAULT_START_MONTH).strip()[:7],
        debug=_truthy(env.get("JIRA_DEBUG")),
        webhook_retention_days=_days(env.get("JIRA_WEBHOOK_RETENTION_DAYS"), default=30),
    )


@functools.cache
def deployment_settings() -> Settings:
    """The settings of this process's deployment: the environment plus ``.env``, read once.
    The code location's partitions and resources both come from here."""
    return load_settings()


def public_view(settings: Settings) -> dict[str, object]:
    """Settings safe to print or serve: secrets become a bool saying whether they are set."""
    view: dict[str, object] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        view[f.name] = bool(value) if f.name in SECRET_FIELDS else str(value) if value else value
    return view
