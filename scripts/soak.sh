#!/usr/bin/env bash
# The soak run: mixed traffic against gunicorn and a Celery worker with beat on its own
# PostgreSQL database (socialhub_soak, recreated each run) and Redis database 4, then the
# invariant checks; prints the table and writes bench/soak_results.json. PostgreSQL and Redis
# are installed or started here when missing. Extra arguments go to the soak run, e.g.
# scripts/soak.sh --duration 1800 --clients 12
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
scripts/services.sh
PYTHONPATH=. exec .venv/bin/python -m bench.soak "$@"
