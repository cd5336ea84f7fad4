"""Settings for the test suite: PostgreSQL and Redis, tasks run eagerly, sandbox on.

Each value can still be overridden from the environment (the test command sets them).
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/socialhub")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("CACHE_KEY_PREFIX", "socialhub-test")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("SOCIALHUB_SANDBOX", "1")
os.environ.setdefault("DEBUG", "1")

from socialhub.settings import *  # noqa: F403

# The sandbox is reached through an in-process transport (see tests/sandbox_transport.py);
# live-server tests point this at the real server instead.
SANDBOX_BASE_URL = "http://sandbox.test/sandbox"
# Hashing cost is not what these tests are about.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
