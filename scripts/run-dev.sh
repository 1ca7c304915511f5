#!/bin/sh
# `make run`: upgrade the database, add demo data to an empty one, then serve with the
# outbox worker beside the web server. Stopping the server (Ctrl-C) stops the worker too.
set -e
export PORTAL_ENV="${PORTAL_ENV:-development}"
export PORT="${PORT:-5000}" WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
export BASE_URL="${BASE_URL:-http://127.0.0.1:$PORT}"
FLASK=".venv/bin/flask --app portal"

$FLASK db upgrade
$FLASK seed-demo --if-empty

$FLASK worker &
WORKER=$!
trap 'kill $WORKER 2>/dev/null' EXIT INT TERM

echo "Stimme is serving on http://127.0.0.1:$PORT (Ctrl-C stops it)"
.venv/bin/gunicorn -c gunicorn.conf.py wsgi:app
