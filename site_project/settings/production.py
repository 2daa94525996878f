"""Production: refuses to start without real secrets; HTTPS, secure cookies, hashed static files.

`manage.py check --deploy --settings=site_project.settings.production` reports nothing.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import SECRET_KEY, env_bool, env_int, env_list

DEBUG = False

if (
    not SECRET_KEY
    or len(SECRET_KEY) < 50
    or SECRET_KEY.startswith("django-insecure")
    or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters in production "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the site's host names in production.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
# Wagtail's editor shows its live preview in a same-origin frame, which DENY would blank out;
# other sites still cannot frame ours. That is the "good reason" Django's W019 asks for.
X_FRAME_OPTIONS = "SAMEORIGIN"
SILENCED_SYSTEM_CHECKS = ["security.W019"]
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"

# Hashed file names ({% static %} gives them): whitenoise recognises them through the manifest
# and serves them with a ten-year, immutable max-age, since a new content gets a new name. A
# name without its hash keeps whitenoise's 60 s (no WHITENOISE_MAX_AGE here or in base: a long
# one would pin such a file, or a dev server's site.css, in browsers for as long).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
