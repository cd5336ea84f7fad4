#!/bin/sh
# What a socialhub container runs: web | worker | beat | migrate | any command.
set -e

case "${1:-web}" in
  migrate)
    exec python manage.py migrate --noinput
    ;;
  web)
    exec gunicorn socialhub.wsgi \
      --bind "0.0.0.0:${PORT:-8000}" \
      --workers "${WEB_WORKERS:-4}" \
      --threads "${WEB_THREADS:-2}" \
      --timeout "${WEB_TIMEOUT:-30}" \
      --access-logfile - \
      --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
    ;;
  worker)
    exec celery -A socialhub worker \
      --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${WORKER_CONCURRENCY:-4}" \
      --hostname "worker@%h"
    ;;
  beat)
    # Exactly one beat per deployment: two would enqueue every periodic task twice.
    exec celery -A socialhub beat \
      --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule /tmp/celerybeat-schedule
    ;;
  *)
    exec "$@"
    ;;
esac
