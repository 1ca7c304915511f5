"""gunicorn settings for Stimme; `gunicorn -c gunicorn.conf.py wsgi:app` (docs/deploy/README.md).

Everything here can be changed through the environment. This file imports nothing from
`portal`: what the master process imports stays loaded in every worker it forks, so a
reload (SIGHUP) after a deploy would keep running old code.
"""

import json
import logging
import os
from datetime import UTC, datetime

from gunicorn.glogging import Logger


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Loopback by default: nginx on the same machine forwards to it (docs/deploy/nginx.conf).
# BIND_ADDRESS=10.0.0.5 (a private address) when the proxy runs on another machine.
bind = f"{os.environ.get('BIND_ADDRESS', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
# Sync workers each serve one request at a time; requests wait on the database, not the
# CPU, so gunicorn's rule of thumb of two per core plus one fits (capped for memory).
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * _cores() + 1, 12))
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))  # a worker silent this long is replaced
# On SIGTERM (or a reload) workers finish the request in hand for at most this long.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
# The API's searches and filters make long query strings (scripts/api-fuzz.sh): 8190 is
# gunicorn's largest request line and nginx's default large_client_header_buffers.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# The proxy's X-Forwarded-Proto is believed only from these addresses (gunicorn's own
# default is loopback); the app's ProxyFix (PROXY_HOPS) reads X-Forwarded-For and -Host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "stimme"
# Signals are the only control channel (systemd sends them); no control socket in $HOME.
control_socket_disable = True
# The heartbeat file in memory, not on a disk that may stall (gunicorn's advice in docker).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

accesslog = "-"  # standard output; gunicorn's errors and the app's log go to standard error
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# With LOG_FORMAT=text (the default in development) gunicorn's own format, plus the id.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s" %({x-request-id}o)s'


def _json_logs() -> bool:
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower()
    return chosen == "json" or (not chosen and os.environ.get("PORTAL_ENV") != "development")


def _entry(record: logging.LogRecord, message: str) -> dict:
    return {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": message,
        "request_id": None,
        "method": None,
        "path": None,
    }


class JsonLines(logging.Formatter):
    """gunicorn's own lines in the app's shape (portal/logs.py)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record, record.getMessage())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RawAtoms(dict):
    """gunicorn's request atoms as they are (its SafeAtoms escapes quotes for its text
    format; JSON escapes what it must itself); a missing one reads "-"."""

    def __getitem__(self, name):
        return self.get(name.lower() if name.startswith("{") else name, "-")


class JsonAccessLines(logging.Formatter):
    """One JSON object per request, with the id the app echoed in X-Request-ID."""

    def format(self, record: logging.LogRecord) -> str:
        atoms = record.args

        def value(name):
            found = atoms[name]
            return None if found in ("-", None) else found

        entry = _entry(record, f"{atoms['m']} {atoms['U']} {atoms['s']}")
        entry.update(
            request_id=value("{x-request-id}o"),
            method=atoms["m"],
            path=atoms["U"],
            query=value("q"),
            status=int(atoms["s"]),
            bytes=atoms["B"],
            duration_ms=round(atoms["D"] / 1000, 1),
            remote_addr=value("h"),
            forwarded_for=value("{x-forwarded-for}i"),
            user_agent=value("a"),
        )
        return json.dumps(entry, ensure_ascii=False, default=str)


class JsonLogger(Logger):
    """gunicorn's logger with its handlers (and so --access-logfile, --log-level) kept,
    but every line written as JSON."""

    atoms_wrapper_class = RawAtoms

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonLines())
        for handler in self.access_log.handlers:
            handler.setFormatter(JsonAccessLines())


if _json_logs():
    logger_class = JsonLogger
