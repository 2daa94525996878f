"""Settings come from the environment: each case runs in a fresh interpreter whose environment
the test controls completely."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = """
import json
from django.conf import settings
from django.db.backends.postgresql import psycopg_any
db = settings.DATABASES["default"]
cache = settings.CACHES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""),
    "cache": cache["BACKEND"], "cache_location": cache.get("LOCATION"),
    "sessions": settings.SESSION_ENGINE, "debug": settings.DEBUG,
    "psycopg3": psycopg_any.is_psycopg3,
}))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Python with only PATH, HOME and `env` in its environment. DATABASE_URL and REDIS_URL
    are always passed (empty means unset) so a developer's .env cannot leak in."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(BASE_DIR)),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "EMAIL_HOST": "",
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def dev_settings(**env: str) -> dict:
    result = run(["-c", PRINT_SETTINGS], DJANGO_SETTINGS_MODULE="site_project.settings.dev", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def production_env(**env: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "site_project.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "campaigns.example.com",
        **env,
    }


def test_dev_defaults_to_sqlite_under_var_and_local_memory_cache():
    settings = dev_settings()

    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["name"] == str(BASE_DIR / "var" / "db.sqlite3")
    assert settings["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert settings["sessions"] == "django.contrib.sessions.backends.db"
    assert settings["debug"] is True


def test_dev_uses_postgresql_and_redis_when_their_urls_are_set():
    settings = dev_settings(
        DATABASE_URL="postgres://campaigns:secret@db.internal:5432/campaigns",
        REDIS_URL="redis://cache.internal:6379/2",
    )

    assert settings["engine"] == "django.db.backends.postgresql"
    assert settings["psycopg3"] is False  # the pinned driver is psycopg2
    assert (settings["name"], settings["host"]) == ("campaigns", "db.internal")
    assert settings["cache"] == "django_redis.cache.RedisCache"
    assert settings["cache_location"] == "redis://cache.internal:6379/2"
    assert settings["sessions"] == "django.contrib.sessions.backends.cache"


@pytest.mark.parametrize(
    "secret_key",
    [
        "",
        "too-short",
        "django-insecure-" + "x1y2z3" * 10,
        "a" * 60,  # long but not random
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(secret_key):
    result = run(["-c", PRINT_SETTINGS], **production_env(SECRET_KEY=secret_key))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = run(["-c", PRINT_SETTINGS], **production_env(ALLOWED_HOSTS=""))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_passes_the_deployment_checks(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **production_env(VAR_DIR=str(tmp_path)),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr
