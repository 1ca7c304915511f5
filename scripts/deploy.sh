#!/bin/sh
# Deploy the code in this checkout on this machine (docs/deploy/README.md): install it,
# bring the database schema up to date, and only then let the web and worker processes
# take the new code, finishing what they hold first (nothing is dropped).
#
#   STIMME_ENV_FILE  the environment the services run with (/etc/stimme/stimme.env)
#   DEPLOY_MIGRATE   0 on every machine but one: one machine migrates per deploy
#   DEPLOY_INSTALL   0 to skip `pip install` (the checkout is already installed)
#   SYSTEMCTL        how services are told (systemctl); empty to leave them alone
#   STIMME_USER      run as root, the app's commands run as this user (stimme), so the
#                    files they make (a SQLite database) belong to the services
set -eu
cd "$(dirname "$0")/.."
ENV_FILE="${STIMME_ENV_FILE:-/etc/stimme/stimme.env}"
if [ -f "$ENV_FILE" ]; then
  set -a
  . "$ENV_FILE"
  set +a
fi
SYSTEMCTL="${SYSTEMCTL-systemctl}"
FLASK=".venv/bin/flask --app portal"
if [ "$(id -u)" = 0 ] && id "${STIMME_USER:-stimme}" >/dev/null 2>&1; then
  FLASK="runuser -u ${STIMME_USER:-stimme} -- $FLASK"
fi

if [ "${DEPLOY_INSTALL:-1}" != 0 ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
fi

# The new schema must work with the code still serving until the reload below: add
# columns and tables in one deploy, remove what the old code reads in a later one.
if [ "${DEPLOY_MIGRATE:-1}" != 0 ]; then
  echo "== flask db upgrade"
  $FLASK db upgrade
fi

if [ -n "$SYSTEMCTL" ]; then
  # SIGHUP: gunicorn starts workers on the new code, the old ones finish their requests.
  echo "== reloading stimme-web, restarting the workers"
  $SYSTEMCTL reload stimme-web.service
  # SIGTERM: each worker sends the message in hand, then exits; systemd starts it again.
  $SYSTEMCTL restart 'stimme-worker@*.service'
fi
echo "== deployed $(git rev-parse --short HEAD 2>/dev/null || echo 'this checkout')"
