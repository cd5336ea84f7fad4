"""socialhub settings, read from the environment.

With nothing set, the service runs on an embedded default (SQLite, local cache, filesystem
Celery broker, sandbox provider on). With ``DEBUG`` off it refuses to start on the
development secrets.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SOCIALHUB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# Development-only values. Production (DEBUG off) refuses to start with any of them.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnop"
DEV_JWT_SIGNING_KEY = "dev-insecure-jwt-signing-key-change-me-0123456789abcdefgh"
DEV_TOKEN_ENCRYPTION_KEY = "ZGV2LWluc2VjdXJlLXRva2VuLWtleS0wMDAwMDAwMDA="

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
JWT_SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY", DEV_JWT_SIGNING_KEY)
TOKEN_ENCRYPTION_KEYS = env_list("TOKEN_ENCRYPTION_KEYS", [DEV_TOKEN_ENCRYPTION_KEY])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
REDIS_URL = os.environ.get("REDIS_URL", "").strip()


def _check_fernet_keys(keys: list[str]) -> None:
    from cryptography.fernet import Fernet

    for index, key in enumerate(keys):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"TOKEN_ENCRYPTION_KEYS entry {index + 1} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None


_check_fernet_keys(TOKEN_ENCRYPTION_KEYS)

# Serve the sandbox provider and route every platform to it.
SOCIALHUB_SANDBOX = env_bool("SOCIALHUB_SANDBOX", DEBUG)
# Where the server reaches the sandbox (token, profile, revoke) and where browsers are sent
# to authorize. The first-run command serves it on the same port as the API.
SANDBOX_BASE_URL = os.environ.get("SANDBOX_BASE_URL", "http://127.0.0.1:8000/sandbox").rstrip("/")

if not DEBUG:
    unsafe = []
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        unsafe.append("SECRET_KEY")
    if JWT_SIGNING_KEY == DEV_JWT_SIGNING_KEY or len(JWT_SIGNING_KEY) < 32:
        unsafe.append("JWT_SIGNING_KEY")
    if JWT_SIGNING_KEY == SECRET_KEY:
        unsafe.append("JWT_SIGNING_KEY (must differ from SECRET_KEY)")
    if DEV_TOKEN_ENCRYPTION_KEY in TOKEN_ENCRYPTION_KEYS:
        unsafe.append("TOKEN_ENCRYPTION_KEYS")
    if not os.environ.get("DATABASE_URL"):
        unsafe.append("DATABASE_URL")
    if not REDIS_URL:
        unsafe.append("REDIS_URL (rate limits must be shared by every process)")
    if "*" in ALLOWED_HOSTS or "ALLOWED_HOSTS" not in os.environ:
        unsafe.append("ALLOWED_HOSTS")
    if unsafe:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off on unsafe defaults; set: " + ", ".join(unsafe)
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts.apps.AccountsConfig",
    "scheduling.apps.SchedulingConfig",
]

MIDDLEWARE = [
    "socialhub.api.middleware.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "socialhub.urls"
WSGI_APPLICATION = "socialhub.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, reading date-times with psycopg's compiled loader.
    DATABASES["default"]["ENGINE"] = "socialhub.postgresql"
    # A database host that does not answer fails the request in seconds, not minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default shares the file between the web server and the worker.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "socialhub"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
else:
    # Embedded default: one web process, so a process-local cache holds the rate-limit
    # counters correctly. django-ratelimit's check rejects it for multi-process servers,
    # which is why production requires REDIS_URL (enforced above).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves the admin's and the API docs' assets from the app server: straight from
# the apps with DEBUG on, from STATIC_ROOT (manage.py collectstatic) in production.
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "socialhub.api.authentication.ApiKeyAuthentication",
        "socialhub.api.authentication.BearerJWTAuthentication",
    ],
    # Users only unless a view opts in to API keys with the scopes it needs.
    "DEFAULT_PERMISSION_CLASSES": ["socialhub.api.permissions.IsUser"],
    "DEFAULT_RENDERER_CLASSES": ["socialhub.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["socialhub.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "socialhub.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ALGORITHM": "HS256",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "15"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(os.environ.get("JWT_REFRESH_DAYS", "14"))),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "socialhub API",
    "DESCRIPTION": "Connect, read, refresh and safely disconnect social-media accounts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are public: a stale Authorization header must not turn them into 401.
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from this deployment's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the target statuses that usage counts and post targets share.
    "ENUM_NAME_OVERRIDES": {"PostTargetStatusEnum": "scheduling.models.PostTarget.Status"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "socialhub.api.schema.envelope_postprocessing_hook",
    ],
}

API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(256 * 1024)))

# Rate limits (django-ratelimit syntax, counted on the shared cache).
RATELIMITS = {
    "creator.social.disconnect": os.environ.get("RATELIMIT_CREATOR_DISCONNECT", "30/h"),
    "creator.social.connect": os.environ.get("RATELIMIT_CREATOR_CONNECT", "60/h"),
    "auth.login": os.environ.get("RATELIMIT_LOGIN", "30/m"),
    "auth.refresh": os.environ.get("RATELIMIT_REFRESH", "60/m"),
    "auth.register": os.environ.get("RATELIMIT_REGISTER", "30/m"),
    # Per API key (or per user) on partner writes: disconnects and lease releases.
    "partner.social.write": os.environ.get("RATELIMIT_PARTNER_WRITE", "120/m"),
    # Per user on workspace administration: workspaces, members, API keys, webhooks.
    "workspace.write": os.environ.get("RATELIMIT_WORKSPACE_WRITE", "60/m"),
    # Per API key (or per user) on scheduled-post writes: create, update, cancel.
    "posts.write": os.environ.get("RATELIMIT_POSTS_WRITE", "120/m"),
}
# The staff admin's sign-in form, per client address (not an API group: no envelope).
ADMIN_LOGIN_RATELIMIT = os.environ.get("RATELIMIT_ADMIN_LOGIN", "10/m")
RATELIMIT_FAIL_OPEN = False
# How many reverse proxies in front of the app append to X-Forwarded-For (0: none; the
# client address is REMOTE_ADDR). Per-address limits use the address they saw.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
RATELIMIT_IP_META_KEY = "socialhub.api.ratelimit.client_ip"

OAUTH_STATE_TTL = timedelta(minutes=int(os.environ.get("OAUTH_STATE_TTL_MINUTES", "10")))
PROVIDER_HTTP_TIMEOUT = (3.05, float(os.environ.get("PROVIDER_HTTP_TIMEOUT", "10")))

# Real platforms: each is offered once its app credentials are set (<PLATFORM>_CLIENT_ID and
# <PLATFORM>_CLIENT_SECRET; Bluesky, a public client, needs only its client id).
SOCIAL_PLATFORMS = (
    "instagram",
    "facebook_page",
    "x",
    "linkedin_person",
    "linkedin_company",
    "tiktok_business",
    "tiktok_personal",
    "youtube",
    "pinterest",
    "threads",
    "bluesky",
)
PROVIDER_CREDENTIALS = {
    platform: {
        "client_id": os.environ.get(f"{platform.upper()}_CLIENT_ID", "").strip(),
        "client_secret": os.environ.get(f"{platform.upper()}_CLIENT_SECRET", "").strip(),
    }
    for platform in SOCIAL_PLATFORMS
}
# Bluesky's client metadata document (its client id is that document's URL) lists the
# redirect URIs connects may use.
BLUESKY_REDIRECT_URIS = env_list("BLUESKY_REDIRECT_URIS", [])
# Send the calls meant for a platform's origin elsewhere, e.g. to a local fake of it:
# "https://api.x.com=http://127.0.0.1:8900/api.x.com", comma-separated; "*" stands for
# every origin and "{host}" for the original host ("*=http://127.0.0.1:8900/{host}").
PLATFORM_ORIGIN_OVERRIDES = dict(
    item.split("=", 1) for item in env_list("PLATFORM_ORIGIN_OVERRIDES", []) if "=" in item
)

# Celery: Redis in production; the embedded default uses a filesystem broker so the
# first-run command still runs background and periodic work without Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "store_processed": False,
    }
else:
    # Must exceed the longest task plus the longest countdown/ETA, or tasks run twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 6 * 3600,
        # A broker host that does not answer costs a request seconds, not the OS's minutes.
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
# Publishing from a request: a short retry, then the outbox row's periodic run takes over.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# Task modules autodiscovery does not reach (see accounts/tasks/__init__.py).
CELERY_IMPORTS = ("accounts.tasks.offboarding",)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-token-revocations": {
        "task": "accounts.tasks.revocation.token_revocations_sweep_task",
        "schedule": 300.0,
    },
    "purge-idempotency-records": {
        "task": "accounts.tasks.idempotency.idempotency_records_purge_task",
        "schedule": 600.0,
    },
}
TOKEN_REVOCATION_MAX_ATTEMPTS = int(os.environ.get("TOKEN_REVOCATION_MAX_ATTEMPTS", "8"))

# Publishing: how often due targets are claimed, how long a claim lasts before the sweep
# hands the target to another worker, and how many attempts a target gets.
PUBLISH_DUE_INTERVAL = float(os.environ.get("PUBLISH_DUE_INTERVAL", "15"))
PUBLISH_CLAIM_LEASE = timedelta(seconds=int(os.environ.get("PUBLISH_CLAIM_LEASE_SECONDS", "600")))
PUBLISH_MAX_ATTEMPTS = int(os.environ.get("PUBLISH_MAX_ATTEMPTS", "5"))
# Token refresh: accounts whose access token expires within TOKEN_REFRESH_AHEAD are refreshed.
TOKEN_REFRESH_INTERVAL = float(os.environ.get("TOKEN_REFRESH_INTERVAL", "300"))
TOKEN_REFRESH_AHEAD = timedelta(minutes=int(os.environ.get("TOKEN_REFRESH_AHEAD_MINUTES", "15")))
TOKEN_REFRESH_MAX_ATTEMPTS = int(os.environ.get("TOKEN_REFRESH_MAX_ATTEMPTS", "6"))
# Metrics sync: accounts whose counters are older than METRICS_SYNC_STALE_AFTER.
METRICS_SYNC_INTERVAL = float(os.environ.get("METRICS_SYNC_INTERVAL", "900"))
METRICS_SYNC_STALE_AFTER = timedelta(
    minutes=int(os.environ.get("METRICS_SYNC_STALE_AFTER_MINUTES", "60"))
)
# Webhooks: attempts per delivery, consecutive failed deliveries that disable an endpoint,
# the HTTP timeout, and whether endpoints may point at private or loopback addresses
# (allowed in development so a receiver on this machine works; refused in production).
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
WEBHOOK_DISABLE_AFTER_FAILURES = int(os.environ.get("WEBHOOK_DISABLE_AFTER_FAILURES", "5"))
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", "5"))
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
WEBHOOK_SWEEP_INTERVAL = float(os.environ.get("WEBHOOK_SWEEP_INTERVAL", "60"))
# Delivered and failed deliveries are kept this long for GET webhooks/{id}/deliveries.
WEBHOOK_DELIVERY_RETENTION = timedelta(
    days=int(os.environ.get("WEBHOOK_DELIVERY_RETENTION_DAYS", "30"))
)
CELERY_BEAT_SCHEDULE.update(
    {
        "publish-due-posts": {
            "task": "scheduling.tasks.post_targets_publish_due_task",
            "schedule": PUBLISH_DUE_INTERVAL,
        },
        "refresh-expiring-tokens": {
            "task": "accounts.tasks.refresh.social_accounts_refresh_due_task",
            "schedule": TOKEN_REFRESH_INTERVAL,
        },
        "sync-metrics": {
            "task": "accounts.tasks.metrics.social_accounts_metrics_sync_due_task",
            "schedule": METRICS_SYNC_INTERVAL,
        },
        "sweep-webhook-deliveries": {
            "task": "accounts.tasks.webhooks.webhook_deliveries_sweep_task",
            "schedule": WEBHOOK_SWEEP_INTERVAL,
        },
        "purge-webhook-deliveries": {
            "task": "accounts.tasks.webhooks.webhook_deliveries_purge_task",
            "schedule": 24 * 3600.0,
        },
    }
)

# The admin's disconnect and offboard actions run in the request up to this many accounts,
# and as a background task (a worker) beyond it.
ADMIN_INLINE_DISCONNECT_MAX = int(os.environ.get("ADMIN_INLINE_DISCONNECT_MAX", "200"))

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "socialhub.api.correlation.CorrelationIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["correlation"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers (a DEBUG-only console, mail to admins) are dropped: its
        # records reach the root handler once, with the correlation id.
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "INFO"},
        # Its DEBUG lines carry request URLs with their query, where Meta's Graph API takes
        # the access token: never below INFO, whatever LOG_LEVEL says.
        "urllib3": {"level": "INFO"},
    },
}
if CELERY_BROKER_URL == "filesystem://":
    # kombu warns on every connection that a filesystem broker's URL names no host.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
