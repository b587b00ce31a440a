"""Every answer is JSON, errors included: Jira and operators parse it, and no HTML error
page or stack trace ever leaves the process."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def json_response(payload: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


def error_payload(message: str) -> dict[str, str]:
    """``message`` is fixed text chosen by the receiver, never request content."""
    return {"status": "error", "error": message}


def error_response(status: int, message: str) -> Response:
    return json_response(error_payload(message), status)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return error_response(exc.code or 500, (exc.name or "error").lower())

    @app.errorhandler(Exception)
    def _unexpected_error(exc: Exception) -> Response:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path,
                  exc_info=exc)
        return error_response(500, "internal error")
