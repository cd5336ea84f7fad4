#!/usr/bin/env bash
# The whole test suite on PostgreSQL and Redis (started here if they are down), then ruff.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/api -k disconnect
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
scripts/services.sh chromium

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/socialhub}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/1}"
# services.sh installed Chromium: the admin's browser tests must run, not skip.
export SOCIALHUB_REQUIRE_BROWSER=1

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
echo "==> pytest (PostgreSQL: $DATABASE_URL, Redis: $REDIS_URL)"
.venv/bin/pytest "$@"
