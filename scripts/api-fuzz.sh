#!/bin/sh
# Schemathesis against the running app's OpenAPI description (issue 6): it generates
# requests for every described operation, as a visitor, a customer and an admin, and fails
# on any server error or any answer that breaks the description. Loopback only, bounded
# in examples per operation (API_FUZZ_EXAMPLES) and in time (API_FUZZ_SECONDS per role).
set -eu
cd "$(dirname "$0")/.."
EXAMPLES="${API_FUZZ_EXAMPLES:-25}"
SECONDS_PER_ROLE="${API_FUZZ_SECONDS:-60}"
work=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORTAL_ENV=development PORTAL_INSTANCE_PATH="$work" BASE_URL="http://127.0.0.1:$port"
# Limits would answer most generated writes with a (described) 429 and test nothing more.
export RATELIMIT_ENABLED=0 SCHEMATHESIS_HOOKS=""
FLASK=".venv/bin/flask --app portal"

$FLASK db upgrade >/dev/null 2>&1
$FLASK seed-demo --ideas 40 --password "fuzz-password-$port" >/dev/null
admin=$($FLASK create-token admin@example.com | tail -n 1)
customer=$($FLASK create-token customer1@example.com | tail -n 1)

# gunicorn.conf.py allows the long query strings generated searches make; no access log.
PORT="$port" WEB_CONCURRENCY=2 LOG_LEVEL=warning .venv/bin/gunicorn -c gunicorn.conf.py wsgi:app >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
.venv/bin/python - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
PY

status=0
for who in visitor customer admin; do
  case $who in
    visitor) header="X-Fuzz-Role: visitor" ;;
    customer) header="Authorization: Bearer $customer" ;;
    admin) header="Authorization: Bearer $admin" ;;
  esac
  echo "== schemathesis as $who ($EXAMPLES examples per operation)"
  .venv/bin/schemathesis run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$EXAMPLES" --max-time "$SECONDS_PER_ROLE" --seed 6 --workers 1 \
    --generation-deterministic --request-timeout 20 \
    -H "$header" || status=1
done
exit $status
