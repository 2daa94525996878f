"""Test settings: fast hashing, mail kept in memory, throw-away media and logs.

PostgreSQL and Redis are used when DATABASE_URL / REDIS_URL are set (CI sets both).
"""

import atexit
import shutil
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, LOGGING, VAR_DIR, env_str

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if not env_str("EMAIL_HOST"):
    # Sender processes started by tests get EMAIL_HOST pointing at the test's SMTP server.
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Each process that loads these settings (the test run, the sender processes it starts) gets
# its own uploads folder, and removes it when it exits.
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="test-media-"))
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
ALLOWED_HOSTS = ["*"]
SERVE_MEDIA = True
ACCOUNT_RATE_LIMITS = False  # type: ignore[assignment]  # allauth: False turns every limit off
SITE_URL = WAGTAILADMIN_BASE_URL = "http://testserver"
# The existing tests read English; the ones about Russian ask for it (Accept-Language: ru).
LANGUAGE_CODE = "en"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that sender processes started by tests see the same database.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("TEST_DB_NAME") or str(VAR_DIR / "test-db.sqlite3")
    }
elif env_str("TEST_DB_NAME"):
    # Lets two test runs share one PostgreSQL server without dropping each other's database.
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DB_NAME")}

LOGGING["handlers"]["file"]["filename"] = str(  # type: ignore[index]
    Path(tempfile.gettempdir()) / "site-test.log"
)
# Serve static files from the app folders as they are, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
