"""Local development: debug on, a throw-away secret key, everything else from the environment."""

from .base import *  # noqa: F403
from .base import env_bool, env_str

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY") or "django-insecure-dev-only-key-never-use-in-production"
INTERNAL_IPS = ["127.0.0.1"]
SERVE_MEDIA = env_bool("SERVE_MEDIA", True)
# Serve static files from the app folders as they are, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
