#!/usr/bin/env bash
# First run: the embedded default. SQLite, no Redis, demo data, sandbox provider on, and a
# Celery worker (with beat) on a filesystem broker so background and periodic work runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt

port="${PORT:-8000}"
export SANDBOX_BASE_URL="${SANDBOX_BASE_URL:-http://127.0.0.1:${port}/sandbox}"
mkdir -p var

.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py seed_demo

echo "==> starting the Celery worker (filesystem broker, beat embedded): var/worker.log"
.venv/bin/celery -A socialhub worker --beat --pool=solo --loglevel=INFO \
  --schedule var/celerybeat-schedule >var/worker.log 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT INT TERM

echo "==> serving http://127.0.0.1:${port}  (API /api/v1/, docs /api/docs/, admin /admin/)"
.venv/bin/python manage.py runserver "127.0.0.1:${port}" --noreload
