#!/usr/bin/env bash
# The benchmark: seeds its own PostgreSQL database (socialhub_bench, recreated each run),
# starts gunicorn and drives it with wrk, prints the table and writes bench/results.json and
# bench/results.png. PostgreSQL, Redis and wrk are installed or started here when missing.
# Extra arguments go to the benchmark, e.g. scripts/bench.sh --quick
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-bench.txt
scripts/services.sh wrk
PYTHONPATH=. exec .venv/bin/python -m bench "$@"
