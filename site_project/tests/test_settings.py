"""Settings come from the environment: each case runs in a fresh interpreter whose environment
the test controls completely."""

import json
import os
import re
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
sessions_cache = settings.CACHES.get(settings.SESSION_CACHE_ALIAS, {})
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""),
    "cache": cache["BACKEND"], "cache_location": cache.get("LOCATION"),
    "sessions": settings.SESSION_ENGINE, "debug": settings.DEBUG,
    "session_cache_alias": settings.SESSION_CACHE_ALIAS,
    "sessions_cache": sessions_cache.get("BACKEND"),
    "sessions_cache_location": sessions_cache.get("LOCATION"),
    "dashboard_ttl": settings.DASHBOARD_CACHE_TTL, "public_ttl": settings.PUBLIC_CACHE_TTL,
    "log_file": settings.LOGGING["handlers"]["file"]["filename"],
    "site_name": settings.WAGTAIL_SITE_NAME,
    "psycopg3": psycopg_any.is_psycopg3,
}))
"""


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Python with only PATH, HOME and `env` in its environment, and no .env file read
    (DOTENV_PATH empty) unless `env` names one: a developer's .env cannot leak in."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(BASE_DIR)),
        "DOTENV_PATH": "",
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
    assert settings["cache"] == "site_project.redis_cache.ResilientRedisCache"
    assert settings["cache_location"] == "redis://cache.internal:6379/2"
    assert settings["sessions"] == "django.contrib.sessions.backends.cached_db"


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


# --- Values the settings refuse --------------------------------------------------------------


def assert_refused(result: subprocess.CompletedProcess, *names: str) -> None:
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    for name in names:
        assert name in last_line, result.stderr


@pytest.mark.parametrize(("name", "value"), [("DEBUG", "maybe"), ("EMAIL_USE_TLS", "ture")])
def test_a_yes_no_variable_refuses_what_it_does_not_understand(name, value):
    result = run(
        ["-c", PRINT_SETTINGS], DJANGO_SETTINGS_MODULE="site_project.settings.dev", **{name: value}
    )

    assert_refused(result, name, repr(value))


@pytest.mark.parametrize(("value", "expected"), [("YES", True), (" off ", False), ("1", True)])
def test_a_yes_no_variable_accepts_the_usual_spellings(value, expected):
    assert dev_settings(DEBUG=value)["debug"] is expected


def test_a_number_variable_names_itself_when_it_is_not_a_number():
    result = run(
        ["-c", PRINT_SETTINGS],
        DJANGO_SETTINGS_MODULE="site_project.settings.dev",
        EMAIL_PORT="twenty-five",
    )

    assert_refused(result, "EMAIL_PORT", "'twenty-five'")


def test_tls_and_ssl_together_are_refused():
    result = run(
        ["-c", PRINT_SETTINGS],
        DJANGO_SETTINGS_MODULE="site_project.settings.dev",
        EMAIL_USE_TLS="true",
        EMAIL_USE_SSL="true",
    )

    assert_refused(result, "EMAIL_USE_TLS", "EMAIL_USE_SSL")


# --- Caches and sessions -------------------------------------------------------------------------


def test_cache_backend_dummy_switches_off_the_site_cache_but_keeps_sessions_in_redis():
    settings = dev_settings(REDIS_URL="redis://cache.internal:6379/2", CACHE_BACKEND="dummy")

    assert settings["cache"] == "django.core.cache.backends.dummy.DummyCache"
    assert settings["sessions"] == "django.contrib.sessions.backends.cached_db"
    assert settings["session_cache_alias"] == "sessions"
    assert settings["sessions_cache"] == "site_project.redis_cache.ResilientRedisCache"
    assert settings["sessions_cache_location"] == "redis://cache.internal:6379/2"


def test_cache_backend_dummy_without_redis_keeps_sessions_in_the_database():
    settings = dev_settings(CACHE_BACKEND="dummy")

    assert settings["cache"] == "django.core.cache.backends.dummy.DummyCache"
    assert settings["sessions"] == "django.contrib.sessions.backends.db"


def test_cache_ttls_are_short_without_redis_where_processes_cannot_invalidate_each_other():
    assert (dev_settings()["dashboard_ttl"], dev_settings()["public_ttl"]) == (10, 10)
    with_redis = dev_settings(REDIS_URL="redis://cache.internal:6379/2")
    assert (with_redis["dashboard_ttl"], with_redis["public_ttl"]) == (30, 600)
    chosen = dev_settings(DASHBOARD_CACHE_TTL="5", PUBLIC_CACHE_TTL="60")
    assert (chosen["dashboard_ttl"], chosen["public_ttl"]) == (5, 60)


# --- Files -------------------------------------------------------------------------------------


def test_each_process_can_log_to_its_own_file(tmp_path):
    assert dev_settings()["log_file"] == str(BASE_DIR / "var" / "log" / "site.log")
    # Relative to the project folder, as the Makefile gives it to the scheduler.
    assert dev_settings(LOG_FILE="var/log/scheduler.log")["log_file"] == str(
        BASE_DIR / "var" / "log" / "scheduler.log"
    )
    absolute = tmp_path / "sender.log"
    assert dev_settings(LOG_FILE=str(absolute))["log_file"] == str(absolute)


def test_dotenv_path_names_the_file_to_read(tmp_path):
    dotenv = tmp_path / "staging.env"
    dotenv.write_text(f"SITE_NAME=Read from {dotenv.name}\nVAR_DIR={tmp_path / 'var'}\n")

    settings = dev_settings(DOTENV_PATH=str(dotenv))

    assert settings["site_name"] == "Read from staging.env"
    # VAR_DIR too: the file is read before any variable.
    assert settings["name"] == str(tmp_path / "var" / "db.sqlite3")
    assert dev_settings()["site_name"] == "Campaigns"  # DOTENV_PATH empty: nothing read


def test_the_test_settings_remove_their_media_folder_at_exit():
    result = run(
        ["-c", "from django.conf import settings; print(settings.MEDIA_ROOT)"],
        DJANGO_SETTINGS_MODULE="site_project.settings.test",
    )

    assert result.returncode == 0, result.stderr
    media_root = Path(result.stdout.strip())
    assert media_root.name.startswith("test-media-")
    assert not media_root.exists()


def test_every_variable_the_settings_read_is_in_env_example():
    read = set()
    for source in (BASE_DIR / "site_project" / "settings").glob("*.py"):
        text = source.read_text()
        read |= set(re.findall(r'\benv_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', text))
        read |= set(re.findall(r'\bos\.(?:environ\.get|getenv)\(\s*"([A-Z0-9_]+)"', text))
        read |= set(re.findall(r'\bos\.environ\[\s*"([A-Z0-9_]+)"\s*\]', text))
    documented = set(
        re.findall(r"^#? ?([A-Z0-9_]+)=", (BASE_DIR / ".env.example").read_text(), re.M)
    )

    assert len(read) > 40  # the pattern finds them
    assert read - documented == set()


# --- Static files ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_outside_production_static_files_are_not_kept_for_a_year(client):
    response = client.get("/static/css/site.css")

    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=60, public"


PRODUCTION_STATIC = """
import django, json
django.setup()
from django.templatetags.static import static
from django.test import Client
client = Client()
headers = {}
for url in (static("css/site.css"), "/static/css/site.css"):
    response = client.get(url, secure=True)
    headers[url] = [response.status_code, response["Cache-Control"]]
print(json.dumps(headers))
"""


def test_in_production_hashed_static_files_are_kept_for_good_and_others_for_a_minute(tmp_path):
    env = production_env(VAR_DIR=str(tmp_path), STATIC_ROOT=str(tmp_path / "static"))
    env["ALLOWED_HOSTS"] = "testserver"
    collected = run(["manage.py", "collectstatic", "--noinput", "-v0"], **env)
    assert collected.returncode == 0, collected.stderr

    result = run(["-c", PRODUCTION_STATIC], **env)

    assert result.returncode == 0, result.stderr
    (hashed, hashed_headers), (_plain, plain_headers) = json.loads(result.stdout).items()
    assert re.fullmatch(r"/static/css/site\.[0-9a-f]{12}\.css", hashed)
    assert hashed_headers == [200, "max-age=315360000, public, immutable"]
    assert plain_headers == [200, "max-age=60, public"]
