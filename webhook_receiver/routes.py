"""The ``/webhooks`` blueprint: Jira deliveries, the health check and the debug refresh.

Order of checks on a delivery: a usable secret (503: unset, or shorter than
:data:`MIN_SECRET_LENGTH`), body size (413), signature over the
raw bytes (401), shape and issue key (400), durable storage (503 when the disk refuses).
One structured log line per delivery: ids, event, key, status, duration; never the
signature, the secret or the body."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from flask import Blueprint, Response, abort, current_app, g, request
from werkzeug.exceptions import HTTPException

from jira_pipeline.jira.signature import MIN_SECRET_LENGTH, SIGNATURE_HEADERS, signature_is_valid
from jira_pipeline.storage.auth_state import (
    ROTATE_HINTS,
    read_auth_state,
    read_config_problem,
)
from jira_pipeline.storage.inbox import pending_summary
from webhook_receiver.context import MAX_BODY_BYTES, ReceiverContext
from webhook_receiver.payload import Delivery, InvalidDelivery, parse_debug_refresh, parse_delivery
from webhook_receiver.responses import error_response, json_response
from webhook_receiver.store import StorageUnavailable

bp = Blueprint("webhooks", __name__)
delivery_log = logging.getLogger("webhook_receiver.deliveries")


def secret_problem(secret: str) -> str | None:
    """Why deliveries are refused with this secret, for operators (its length at most,
    never its text); None when it is usable."""
    if not secret:
        return "JIRA_WEBHOOK_SECRET is not set: deliveries are refused with 503"
    if len(secret) < MIN_SECRET_LENGTH:
        return (
            f"JIRA_WEBHOOK_SECRET is too short ({len(secret)} characters, at least "
            f"{MIN_SECRET_LENGTH}): deliveries are refused with 503"
        )
    return None


def _context() -> ReceiverContext:
    return ReceiverContext.of(current_app)


@bp.before_request
def _start_clock() -> None:
    g.delivery_started = time.perf_counter()
    g.delivery_fields = {}


@bp.after_request
def _log_delivery(response: Response) -> Response:
    if request.method == "POST":
        fields: dict[str, Any] = {
            "msg": "webhook delivery",
            "path": request.path,
            "status": response.status_code,
            **g.get("delivery_fields", {}),
            "duration_ms": round((time.perf_counter() - g.delivery_started) * 1000, 2),
        }
        delivery_log.info("%s", orjson.dumps(fields).decode())
    return response


@bp.post("/jira")
def receive_jira() -> Response:
    return _receive(parse_delivery)


@bp.post("/jira/test")
def receive_debug_refresh() -> Response:
    """Queue a refresh of one issue by hand; exists only with ``JIRA_DEBUG`` on, and is
    signed and stored exactly like a Jira delivery."""
    if not _context().settings.debug:
        abort(404)
    return _receive(parse_debug_refresh)


def _receive(parse: Callable[[bytes], Delivery]) -> Response:
    context = _context()
    secret = context.settings.webhook_secret
    if secret_problem(secret):  # the reason goes to /health, not to whoever posts here
        return error_response(503, "webhook secret not configured")
    try:
        body = request.get_data(cache=False)  # werkzeug answers 413 for a long Content-Length
    except HTTPException:
        raise
    except Exception:  # the server could not read the body (gunicorn raises its own
        return error_response(400, "malformed request body")  # ParseException on bad chunks)
    if len(body) > MAX_BODY_BYTES:  # a chunked body, cut at MAX_CONTENT_LENGTH
        abort(413)
    signatures = (request.headers.get(name) for name in SIGNATURE_HEADERS)
    if not signature_is_valid(secret, body, signatures):
        return error_response(401, "missing or invalid signature")
    try:
        delivery = parse(body)
    except InvalidDelivery as exc:
        return error_response(400, str(exc))
    g.delivery_fields.update(delivery.log_fields())
    try:
        stored = context.store.store(delivery, body, request.headers)
    except StorageUnavailable as exc:
        g.delivery_fields["error"] = str(exc)  # the OS reason only ("No space left on device")
        return error_response(503, "storage unavailable, retry later")
    g.delivery_fields["event_id"] = stored.event_id
    if stored.duplicate_of:
        g.delivery_fields["duplicate_of"] = stored.duplicate_of
        return json_response({"status": "duplicate", "event_id": stored.event_id}, 200)
    return json_response({"status": "accepted", "event_id": stored.event_id}, 202)


@bp.get("/jira/health")
def health() -> Response:
    """Liveness plus what an operator must act on; never a secret or token."""
    context = _context()
    settings = context.settings
    secret_refused = secret_problem(settings.webhook_secret)
    problems = [secret_refused] if secret_refused else []
    try:
        pending, oldest_age = pending_summary(context.root)
    except OSError:
        pending, oldest_age = None, None
        problems.append("inbox cannot be listed: check the data root")
    hints = [
        (state.get("hint") if isinstance(state, dict) else None) or ROTATE_HINTS[credential]
        for credential, state in read_auth_state(context.root).items()
        if state
    ]
    problems.extend(hints)
    config_problem = read_config_problem(context.root)
    if config_problem and config_problem.get("line") not in problems:
        problems.append(str(config_problem.get("line")))
    return json_response(
        {
            "status": "degraded" if problems else "ok",
            "configured": bool(not secret_refused and settings.base_url),
            "webhook_secret_set": bool(settings.webhook_secret),
            "jira_domain": settings.jira_domain or None,
            "jira_auth": "; ".join(hints) if hints else "ok",
            "config_problem": config_problem,
            "pending_events": pending,
            "oldest_pending_age_s": round(oldest_age, 3) if oldest_age is not None else None,
            "problems": problems,
        },
        200,
    )
