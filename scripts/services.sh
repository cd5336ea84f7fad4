#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on 127.0.0.1; starts them, installing them from
# Debian's packages first when they are missing. Arguments name extra tools to install:
# chromium (the admin's browser tests), wrk (the benchmark's load generator).
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

for tool in "$@"; do
  case "$tool" in
    chromium)  # Playwright drives the system browser
      command -v chromium >/dev/null 2>&1 || { echo "==> installing Chromium"; apt_install chromium; } ;;
    wrk)
      command -v wrk >/dev/null 2>&1 || { echo "==> installing wrk"; apt_install wrk; } ;;
    *) echo "unknown tool: $tool" >&2; exit 2 ;;
  esac
done

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1 || ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "==> installing PostgreSQL"
    apt_install postgresql
  fi
  if ! pg_up; then
    echo "==> starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  pg_up || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
fi
# Trust auth for local TCP is what the test settings expect (user postgres, no password).
if ! psql -h 127.0.0.1 -U postgres -Atqc 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL answers but user postgres cannot log in over TCP without a password;" \
       "set DATABASE_URL to a database URL that works." >&2
  [ -n "${DATABASE_URL:-}" ] || exit 1
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! command -v redis-cli >/dev/null 2>&1 || ! redis_up; then
  command -v redis-server >/dev/null 2>&1 || { echo "==> installing Redis"; apt_install redis-server; }
  if ! redis_up; then
    echo "==> starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  fi
  redis_up || { echo "Redis is not answering on 127.0.0.1:6379" >&2; exit 1; }
fi
