"""The Jira webhook receiver: the only part exposed to the internet. It verifies, validates,
deduplicates and durably queues deliveries for the Dagster sensor, answers in
milliseconds, and never calls Jira or transforms anything."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from jira_pipeline.config import load_settings
from jira_pipeline.storage import DataRoot
from webhook_receiver.context import MAX_BODY_BYTES, ReceiverContext
from webhook_receiver.responses import register_error_handlers
from webhook_receiver.routes import bp
from webhook_receiver.store import DeliveryStore

__all__ = ["MAX_BODY_BYTES", "create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` holds setting names (``JIRA_WEBHOOK_SECRET``,
    ``JIRA_DATA_ROOT``, ``JIRA_DEBUG``…) that override the environment; without it the
    environment and ``.env`` are read as by every other entry point."""
    if config is None:
        settings = load_settings()
    else:
        settings = load_settings({**os.environ, **{k: _env_text(v) for k, v in config.items()}})
    app = Flask(__name__)
    # One byte of slack: a chunked body is cut at this limit without an error, so the view
    # tells "over the limit" from "exactly at it" by its length.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1
    ReceiverContext(settings, DeliveryStore(DataRoot(settings.data_root))).install(app)
    app.register_blueprint(bp, url_prefix="/webhooks")
    register_error_handlers(app)
    return app


def _env_text(value: Any) -> str:
    """Accept paths and booleans in ``config`` the way the environment would spell them."""
    if isinstance(value, bool):
        return "1" if value else ""
    return "" if value is None else os.fspath(value) if isinstance(value, os.PathLike) else str(value)
