"""Run `manage.py send_mailing` as a real separate process against the test database."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from mailing.smtp_sink import SmtpSink

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def database_url() -> str:
    """DATABASE_URL of the database this test run created (a file, or test_<name>), for the
    processes a test starts."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "localhost"
    port = db.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(db['NAME'])}"


def sender_env(sink: SmtpSink, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "site_project.settings.test",
            "DATABASE_URL": database_url(),
            "DATABASE_CONN_MAX_AGE": "0",
            "EMAIL_HOST": sink.host,
            "EMAIL_PORT": str(sink.port),
            "EMAIL_TIMEOUT": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("TEST_DB_NAME", None)
    env.update(overrides)
    return env


def unreachable_database_url() -> str:
    """A DATABASE_URL like the test database's that no server will open."""
    if connection.vendor == "sqlite":
        return "sqlite:////nonexistent-directory/db.sqlite3"
    return database_url().rsplit("/", 1)[0] + "/no_such_database_for_this_test"


def manage(env: dict[str, str], *args: str) -> subprocess.Popen:
    """`manage.py <args>` as a separate process."""
    return subprocess.Popen(
        [sys.executable, str(MANAGE), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def send_mailing(mailing_id: int | str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return manage(env, "send_mailing", str(mailing_id), *args)


def run_send_mailing(
    mailing_id: int | str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess:
    process = send_mailing(mailing_id, env, *args)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
