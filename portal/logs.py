"""Log lines as JSON objects, each carrying the id of the request it was written for.

The id is the caller's X-Request-ID when it is well formed (nginx sends one, see
docs/deploy/nginx.conf) or a new one; it is kept in the request's WSGI environ, echoed in
the answer's X-Request-ID and written on every line logged while the request is handled.
gunicorn.conf.py writes gunicorn's own lines (access log included) in the same shape.
"""

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime

from flask import Flask, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
ENVIRON_KEY = "stimme.request_id"
# Bounded and plain, so a caller cannot put anything odd into the logs through it.
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
FORMATS = ("json", "text")


def request_id() -> str:
    """This request's id: the caller's X-Request-ID when well formed, else a new one."""
    environ = request.environ
    if ENVIRON_KEY not in environ:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        environ[ENVIRON_KEY] = offered if WELL_FORMED_ID.fullmatch(offered) else uuid.uuid4().hex
    return environ[ENVIRON_KEY]


def echo_request_id(response):
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


class RequestFields(logging.Filter):
    """Adds request_id, method and path (None outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = request_id()
            record.method = request.method
            record.path = request.path
        else:
            record.request_id = record.method = record.path = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "method": getattr(record, "method", None),
            "path": getattr(record, "path", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For development: a readable line, with the request id when there is one."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        return super().format(record)


class StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is at each line (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def choose_log_format(portal_env: str, chosen: str = "") -> str:
    """LOG_FORMAT when given, else JSON in production and text in development."""
    chosen = chosen.strip().lower()
    if chosen and chosen not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be 'json' or 'text', not {chosen!r}")
    return chosen or ("text" if portal_env == "development" else "json")


def configure_logging(app: Flask) -> None:
    """Send every logger's records to stderr through one handler, in the chosen format.

    Calling it again (a second app in one process) replaces that handler, never adds one.
    """
    handler = StderrHandler()
    handler.stimme = True
    handler.addFilter(RequestFields())
    handler.setFormatter(JsonFormatter() if app.config["LOG_FORMAT"] == "json" else TextFormatter())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if getattr(h, "stimme", False)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    # Flask's own handler on the "portal" logger would print each line a second time.
    app.logger.removeHandler(default_handler)
