.PHONY: run test lint bench

run:  ## install and serve the embedded default (SQLite, demo data, sandbox) on :8000
	scripts/run.sh

test:  ## install and run the whole suite on PostgreSQL and Redis
	scripts/test.sh

bench:  ## the benchmark on PostgreSQL, Redis, gunicorn and wrk (table, bench/results.json, .png)
	scripts/bench.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
