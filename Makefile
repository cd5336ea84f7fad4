.PHONY: run test lint bench soak

run:  ## install and serve the embedded default (SQLite, demo data, sandbox) on :8000
	scripts/run.sh

test:  ## install and run the whole suite on PostgreSQL and Redis
	scripts/test.sh

bench:  ## the benchmark on PostgreSQL, Redis, gunicorn and wrk (table, bench/results.json, .png)
	scripts/bench.sh

soak:  ## mixed traffic for 3 minutes against gunicorn and a Celery worker, then invariants
	scripts/soak.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
