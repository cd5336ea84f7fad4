"""socialhub.settings read in a fresh interpreter: embedded defaults, and production refusals."""

from __future__ import annotations

import json
import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from socialhub.settings import DEV_TOKEN_ENCRYPTION_KEY

PROJECT_DIR = Path(__file__).resolve().parent.parent
SETTINGS_FILE = PROJECT_DIR / "socialhub" / "settings.py"
# Everything settings.py reads; none of it may leak in from the test run's environment.
SETTINGS_VARIABLES = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "JWT_SIGNING_KEY",
    "TOKEN_ENCRYPTION_KEYS",
    "ALLOWED_HOSTS",
    "DEBUG",
    "SOCIALHUB_SANDBOX",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "CACHE_KEY_PREFIX",
    "SANDBOX_BASE_URL",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "DJANGO_SETTINGS_MODULE",
}
PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ENGINE": settings.DATABASES["default"]["ENGINE"],
    "CACHE": settings.CACHES["default"]["BACKEND"],
    "SANDBOX": settings.SOCIALHUB_SANDBOX,
    "BROKER": settings.CELERY_BROKER_URL,
    "BROKER_OPTIONS": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "JWT_KEY_IS_SECRET_KEY": settings.SIMPLE_JWT["SIGNING_KEY"] == settings.SECRET_KEY,
    "SESSION_COOKIE_SECURE": getattr(settings, "SESSION_COOKIE_SECURE", False),
}))
"""


def run_settings(tmp_path, code: str = PRINT_SETTINGS, **env: str):
    """Import the real settings in a child interpreter with only ``env`` configured."""
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_VARIABLES and not key.startswith(("RATELIMIT_", "JWT_"))
    }
    child_env.update(
        DJANGO_SETTINGS_MODULE="socialhub.settings", SOCIALHUB_VAR_DIR=str(tmp_path), **env
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_values(tmp_path, **env: str) -> dict:
    """The settings a child interpreter reads with only ``env``; it must start."""
    result = run_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def settings_refusal(tmp_path, **env: str) -> str:
    """What a child interpreter with only ``env`` prints when the settings refuse to load."""
    result = run_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    return result.stderr


def settings_in_process(monkeypatch, tmp_path, **env: str) -> dict:
    """Execute settings.py in this interpreter with only ``env`` configured."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**env, "SOCIALHUB_VAR_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


@pytest.fixture
def production_env() -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": "postgres://socialhub:pw@db.internal:5432/socialhub",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "ALLOWED_HOSTS": "api.example.com",
    }


def test_production_with_nothing_set_refuses_to_start(tmp_path):
    stderr = settings_refusal(tmp_path, DEBUG="0")

    for name in (
        "SECRET_KEY",
        "JWT_SIGNING_KEY",
        "TOKEN_ENCRYPTION_KEYS",
        "DATABASE_URL",
        "REDIS_URL",
        "ALLOWED_HOSTS",
    ):
        assert name in stderr


def test_production_with_real_values_starts(tmp_path, production_env):
    values = settings_values(tmp_path, **production_env)

    assert values["DEBUG"] is False
    assert values["ENGINE"] == "socialhub.postgresql"
    assert values["CACHE"] == "django_redis.cache.RedisCache"
    assert values["SANDBOX"] is False
    assert values["BROKER"] == "redis://cache.internal:6379/0"
    assert values["JWT_KEY_IS_SECRET_KEY"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("jwt-equals-secret", "JWT_SIGNING_KEY (must differ from SECRET_KEY)"),
        ("short-secret", "SECRET_KEY"),
        ("short-jwt-key", "JWT_SIGNING_KEY"),
        ("dev-encryption-key", "TOKEN_ENCRYPTION_KEYS"),
        ("no-database", "DATABASE_URL"),
        ("no-redis", "REDIS_URL"),
        ("no-hosts", "ALLOWED_HOSTS"),
        ("wildcard-hosts", "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_each_unsafe_value(monkeypatch, tmp_path, production_env, change, named):
    """Each unsafe value alone is enough to refuse. Executed in-process: the module has no
    side effects before its check, and a child interpreter per case would be slow."""
    env = dict(production_env)
    if change == "jwt-equals-secret":
        env["JWT_SIGNING_KEY"] = env["SECRET_KEY"]
    elif change == "short-secret":
        env["SECRET_KEY"] = "too-short"
    elif change == "short-jwt-key":
        env["JWT_SIGNING_KEY"] = "too-short"
    elif change == "dev-encryption-key":
        env["TOKEN_ENCRYPTION_KEYS"] = (
            f"{Fernet.generate_key().decode()},{DEV_TOKEN_ENCRYPTION_KEY}"
        )
    elif change == "no-database":
        del env["DATABASE_URL"]
    elif change == "no-redis":
        del env["REDIS_URL"]
    elif change == "no-hosts":
        del env["ALLOWED_HOSTS"]
    else:
        env["ALLOWED_HOSTS"] = "api.example.com,*"
    with pytest.raises(ImproperlyConfigured) as refused:
        settings_in_process(monkeypatch, tmp_path, **env)

    message = str(refused.value)
    assert named in message
    assert message.count(",") == 0, f"only {named} should be refused: {message}"


def test_production_values_pass_the_check_in_process(monkeypatch, tmp_path, production_env):
    """The control for the test above: the same environment unchanged is accepted."""
    values = settings_in_process(monkeypatch, tmp_path, **production_env)

    assert values["DEBUG"] is False


def test_jwt_signing_key_equal_to_secret_key_refused_at_startup(tmp_path, production_env):
    production_env["JWT_SIGNING_KEY"] = production_env["SECRET_KEY"]

    stderr = settings_refusal(tmp_path, **production_env)

    assert "JWT_SIGNING_KEY (must differ from SECRET_KEY)" in stderr


def test_development_defaults_with_nothing_set(tmp_path):
    values = settings_values(tmp_path)

    assert values["DEBUG"] is True
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert values["CACHE"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["SANDBOX"] is True
    assert values["BROKER"] == "filesystem://"
    assert values["BROKER_OPTIONS"]["data_folder_in"] == str(tmp_path / "celery-broker")
    assert values["JWT_KEY_IS_SECRET_KEY"] is False
    assert (tmp_path / "celery-broker").is_dir()


def test_token_encryption_key_that_is_not_a_fernet_key_is_refused(monkeypatch, tmp_path):
    """A bad key fails at start, not at the first token write hours later."""
    keys = f"{Fernet.generate_key().decode()},not-a-key"

    with pytest.raises(ImproperlyConfigured, match="entry 2 is not a Fernet key"):
        settings_in_process(monkeypatch, tmp_path, TOKEN_ENCRYPTION_KEYS=keys)


DEPLOY_CHECK = (
    "from django.core.management import execute_from_command_line\n"
    "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])\n"
)


def test_deploy_check_is_clean_under_production_settings(tmp_path, production_env):
    """README: ``manage.py check --deploy`` reports nothing: HSTS, secure cookies, the SSL
    redirect, a strong SECRET_KEY, DEBUG off, the sandbox off, nothing silenced."""
    result = run_settings(tmp_path, DEPLOY_CHECK, SOCIALHUB_SANDBOX="0", **production_env)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"SOCIALHUB_SANDBOX": "1"}, "socialhub.W001"),
        ({"PLATFORM_ORIGIN_OVERRIDES": "*=http://127.0.0.1:8900/{host}"}, "socialhub.W002"),
    ],
    ids=["no-ssl-redirect", "sandbox-on", "platform-overrides"],
)
def test_deploy_check_fails_on_a_weakened_production_setting(
    tmp_path, production_env, change, reported
):
    """The control for the test above: the same command does report what it should."""
    env = {"SOCIALHUB_SANDBOX": "0", **production_env, **change}

    result = run_settings(tmp_path, DEPLOY_CHECK, **env)

    assert result.returncode != 0
    assert reported in result.stderr


def test_deploy_check_warns_when_the_sandbox_is_on_in_production(settings):
    from django.core.checks import run_checks

    settings.DEBUG = False
    settings.SOCIALHUB_SANDBOX = True
    warned = [m.id for m in run_checks(include_deployment_checks=True)]
    settings.SOCIALHUB_SANDBOX = False
    quiet = [m.id for m in run_checks(include_deployment_checks=True)]

    assert "socialhub.W001" in warned
    assert "socialhub.W001" not in quiet
