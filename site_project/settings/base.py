"""Settings shared by every environment.

Everything that differs between machines comes from the environment (a `.env` file in the
project root is read when present); the defaults run on a bare machine: SQLite under `var/`,
a local-memory cache and mail written as files under `var/mail/`.
"""

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

PROJECT_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = PROJECT_DIR.parent

# Read before any variable (VAR_DIR included). DOTENV_PATH, from the real environment only,
# names another file; empty reads none (the settings tests run without a developer's .env).
DOTENV_PATH = os.environ.get("DOTENV_PATH", str(BASE_DIR / ".env"))
if DOTENV_PATH:
    load_dotenv(DOTENV_PATH)

# Relative paths in VAR_DIR, STATIC_ROOT, MEDIA_ROOT, LOG_DIR and LOG_FILE are taken from the
# project folder, wherever manage.py is started from.
VAR_DIR = BASE_DIR / os.environ.get("VAR_DIR", "var")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    """The variable's value, or `default` when it is not set."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    """true/false, yes/no, on/off or 1/0 (any case); empty or unset gives `default`.

    Anything else is refused: a typo such as EMAIL_USE_TLS=ture must not quietly mean False.
    """
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be true or false (or yes/no, on/off, 1/0), not {os.environ[name]!r}."
    )


def env_int(name: str, default: int) -> int:
    """A whole number; empty or unset gives `default`, anything else is refused by name."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "core",
    "home",
    "blog",
    "mailing",
    "users",
    "wagtail_modeladmin",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "allauth",
    "allauth.account",
    "django_apscheduler",
    "django_countries",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # The site's name and address in allauth's mails (set from SITE_NAME and SITE_URL after
    # every migrate: users.signals).
    "django.contrib.sites",
    "csp",
]
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer; Wagtail's admin gets its own (site_project/csp.py).
    "site_project.csp.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the language cookie (the switcher), then Accept-Language, then
    # LANGUAGE_CODE; a signed-in user's own choice wins (users.middleware, below).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # ETags for every GET whose view did not set one; answers 304 on a match.
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's language and time zone, from their profile, for every page.
    "users.middleware.UserPreferencesMiddleware",
    "mailing.middleware.DashboardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
    # Anonymous visits to the home page from its cached copy; last, so all of the above apply.
    "home.page_cache.AnonymousHomePageMiddleware",
]

ROOT_URLCONF = "site_project.urls"
WSGI_APPLICATION = "site_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "site_project.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL (postgres://user:pass@host:5432/name) or SQLite under var/.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Web server and scheduler write to the same file: wait for the lock instead of failing,
    # and let WAL keep readers off the writers' backs.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
# "default" holds the site's caches (the home page's copy, page fragments, the live post ids,
# dashboard lists and stats, Wagtail's own); "sessions" holds sign-ins, when Redis is there.
REDIS_URL = env_str("REDIS_URL")


def redis_caches(url: str, key_prefix: str = "site") -> dict:
    """The "default" and "sessions" caches on the Redis at `url` (the outage tests use it too).

    django-redis behind a circuit breaker: while Redis is away, calls skip it at once (site
    caches miss, rate-limit counters count in the process, sessions come from the database)
    and it is tried again every few seconds (site_project/redis_cache.py)."""
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    redis: dict[str, Any] = {
        "BACKEND": "site_project.redis_cache.ResilientRedisCache",
        "LOCATION": url,
        "KEY_PREFIX": key_prefix,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # Redis answers in a millisecond; a host that does not answer costs at most this
            # long, once per RETRY_AFTER_SECONDS and process.
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "SOCKET_TIMEOUT": 1,
            # One immediate retry on a dropped connection (a pooled connection to a Redis that
            # restarted), none on timeouts: redis-py's own default client retries ten times
            # with backoff.
            "CONNECTION_POOL_KWARGS": {
                "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            },
            "RETRY_AFTER_SECONDS": 5,
        },
    }
    return {
        "default": {
            **redis,
            # allauth's rate-limit counters (and their locks) count in the process while Redis
            # is away: limits still hold per process, and a correct password still gets in.
            "OPTIONS": {**redis["OPTIONS"], "LOCAL_FALLBACK_KEY_PREFIXES": ["allauth:rl:"]},
        },
        "sessions": redis,
    }


if REDIS_URL:
    CACHES = redis_caches(REDIS_URL, env_str("CACHE_KEY_PREFIX", "site"))
    # The database keeps every session; Redis spares the query that reads it. Shared by every
    # web worker, and a Redis outage signs nobody out (site_project/redis_cache.py).
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    SESSION_CACHE_ALIAS = "sessions"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "site",
        }
    }
    # A local-memory cache is per process: sessions go to the database so that runserver's
    # restarts and the scheduler beside it do not matter.
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
# CACHE_BACKEND=dummy switches off the "default" cache only: the home page's cached copy, page
# fragments, the cached live post ids, dashboard lists and stats, and Wagtail's own caching.
# Sessions stay where they are (Redis with REDIS_URL, else the database), so signed-in pages
# can be measured too. Only for measuring what the cache buys (`make bench-web`).
if env_str("CACHE_BACKEND") == "dummy":
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}

# Dashboard lists and stats, and the public pages' cached copies, are invalidated on every
# write, and the TTL only bounds how stale a copy can get when another process wrote. With
# Redis every process sees every invalidation. Without it each process has its own
# local-memory cache, so under `make run` the scheduler's status changes never reach the web
# process's cache: there the TTLs default to 10 s, which is how late a change can show.
DASHBOARD_CACHE_TTL = env_int("DASHBOARD_CACHE_TTL", 30 if REDIS_URL else 10)
PUBLIC_CACHE_TTL = env_int("PUBLIC_CACHE_TTL", 600 if REDIS_URL else 10)

# --- Auth and accounts (django-allauth) -------------------------------------------------------
AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "mailing:dashboard"
LOGOUT_REDIRECT_URL = "/"

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# A taken address is refused on the sign-up and email forms, next to the field, as the issue
# asks. allauth's default hides it (and mails the address owner instead), which leaves a person
# who mistyped their address, or forgot they had an account, waiting for a mail that explains
# nothing. The price: anyone can learn whether an address has an account here by trying to sign
# up with it, which sends a verification mail to that address when it is free and is limited by
# the "signup" rate. The password-reset form, whose probing would cost nothing and leave no
# trace, answers alike for every address (users.forms.ResetPasswordForm, in ACCOUNT_FORMS).
ACCOUNT_PREVENT_ENUMERATION = False
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = env_str(
    "ACCOUNT_EMAIL_SUBJECT_PREFIX", f"[{env_str('SITE_NAME', 'Campaigns')}] "
)
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env_str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", "http")
ACCOUNT_ADAPTER = "users.adapter.AccountAdapter"
ACCOUNT_FORMS = {"reset_password": "users.forms.ResetPasswordForm"}
# A signed-in person sent to the sign-in page (Wagtail does that when they may not enter
# /admin/, or a private page needs another account) sees the form and the reason, instead of
# being bounced back to `next`, which would send them straight back here: a redirect loop.
ACCOUNT_AUTHENTICATED_LOGIN_REDIRECTS = False
ACCOUNT_RATE_LIMITS = {
    # allauth's defaults, kept explicit so tests can switch them off.
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}

# --- Email ------------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    # Django would refuse at the first mail; say so at start-up instead.
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS and EMAIL_USE_SSL are both true: set one. EMAIL_USE_TLS is STARTTLS "
        "(usually port 587), EMAIL_USE_SSL is TLS from the first byte (usually port 465)."
    )
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str(
    "DEFAULT_FROM_EMAIL", f"{env_str('SITE_NAME', 'Campaigns')} <noreply@localhost>"
)
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    # No mail server: every mail becomes a readable file, verification links included.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"

# --- Delivery engine (mailing.delivery) ---------------------------------------------------------
# Records of up to this many sent messages share one commit; a crash re-sends at most that many.
MAILING_COMMIT_EVERY = env_int("MAILING_COMMIT_EVERY", 1)
# A sender's claim on a batch expires after this long without renewal; another sender takes over.
MAILING_CLAIM_LEASE_SECONDS = env_int("MAILING_CLAIM_LEASE_SECONDS", 300)
MAILING_BATCH_SIZE = env_int("MAILING_BATCH_SIZE", 200)
# SMTP connections one sender process keeps open in parallel: at most 2 x MAILING_COMMIT_EVERY
# (more would only wait for a commit slot), and 1 on SQLite (one writer).
MAILING_SENDER_CONNECTIONS = env_int("MAILING_SENDER_CONNECTIONS", 8)
MAILING_MAX_TRIES = env_int("MAILING_MAX_TRIES", 5)
MAILING_RETRY_BASE_SECONDS = env_int("MAILING_RETRY_BASE_SECONDS", 60)
MAILING_TICK_SECONDS = env_int("MAILING_TICK_SECONDS", 5)
# Public sign-up to a list (double opt-in): sign-ups one IP address may send per hour, mails
# one address gets per list per day, and how long a confirmation link works.
MAILING_SIGNUP_PER_IP_PER_HOUR = env_int("MAILING_SIGNUP_PER_IP_PER_HOUR", 20)
MAILING_SIGNUP_MAILS_PER_ADDRESS_PER_DAY = env_int("MAILING_SIGNUP_MAILS_PER_ADDRESS_PER_DAY", 3)
MAILING_SIGNUP_CONFIRM_DAYS = env_int("MAILING_SIGNUP_CONFIRM_DAYS", 7)
# Whether the mail relay offers SMTPUTF8 (RFC 6531): only then are addresses whose part
# before "@" is not ASCII accepted (they are refused at entry otherwise, with the reason).
MAILING_SMTPUTF8 = env_bool("MAILING_SMTPUTF8", False)
# The largest CSV file of recipients an import takes (bytes; 20 MB is about 400,000 rows).
MAILING_IMPORT_MAX_BYTES = env_int("MAILING_IMPORT_MAX_BYTES", 20_000_000)

# --- Deliverability (mailing.content.identity, mailing.delivery.caps) --------------------------
# A permanent failure other than "no such mailbox" suppresses the address after this many in a
# row (across runs); "no such mailbox" (5.1.1, 5.1.2, 5.1.10) suppresses at once.
MAILING_BOUNCE_LIMIT = env_int("MAILING_BOUNCE_LIMIT", 3)
# Sending caps per SMTP account, shared by every sender process (0: no cap).
MAILING_RATE_PER_SECOND = env_int("MAILING_RATE_PER_SECOND", 0)
MAILING_DAILY_CAP = env_int("MAILING_DAILY_CAP", 0)
# After a throttling reply (421/45x "too many", "rate") every sender halves its rate this long.
MAILING_SLOW_DOWN_SECONDS = env_int("MAILING_SLOW_DOWN_SECONDS", 60)
# A mailbox that unsubscribes whoever writes to it: adds a mailto: to List-Unsubscribe.
MAILING_UNSUBSCRIBE_MAILBOX = env_str("MAILING_UNSUBSCRIBE_MAILBOX")
# DKIM signing of campaign mail (off unless all three are set; most relays sign themselves).
DKIM_DOMAIN = env_str("DKIM_DOMAIN")
DKIM_SELECTOR = env_str("DKIM_SELECTOR")
DKIM_PRIVATE_KEY = env_str("DKIM_PRIVATE_KEY")  # a path to a PEM RSA private key

# --- Internationalisation ---------------------------------------------------------------------
# The site's language for a visitor who has not chosen one and whose browser asks for neither
# of LANGUAGES: `ru` (the service's first users write Russian) or `en`.
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "ru")
LANGUAGES = [("ru", "Русский"), ("en", "English")]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be ru or en, not {LANGUAGE_CODE!r}.")
# Translations: locale/<language>/LC_MESSAGES/django.po, compiled by `make` (compilemessages).
LOCALE_PATHS = [BASE_DIR / "locale"]
# The default for every user's own time zone (their profile), and the scheduler's.
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Content-Security-Policy (django-csp 4) ------------------------------------------------------
# Scripts and styles only from our own files: an injected <script>, onclick= or javascript: link
# runs nothing, and no inline style= applies (the templates use classes, and scripts that size
# things set element.style, which CSP allows). data: images are Bootstrap's own SVG icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        # As X_FRAME_OPTIONS: only our own pages may frame ours (Wagtail's preview).
        "frame-ancestors": ["'self'"],
    }
}
# Added under /admin/ only: Wagtail's admin writes inline scripts and style attributes, and
# shows images being uploaded as blob: URLs. (No 'unsafe-eval': the editor works without it.)
WAGTAIL_ADMIN_CSP_UPDATE = {
    "script-src": ["'unsafe-inline'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["blob:"],
}

# --- Static and media -------------------------------------------------------------------------
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / env_str("STATIC_ROOT", "staticfiles")
STATIC_URL = "/static/"
MEDIA_ROOT = BASE_DIR / env_str("MEDIA_ROOT", "media")
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Let Django serve uploads (development, tests, a one-box demo); production puts a web server
# in front of MEDIA_ROOT instead.
SERVE_MEDIA = env_bool("SERVE_MEDIA", False)
AVATAR_MAX_BYTES = env_int("AVATAR_MAX_BYTES", 2 * 1024 * 1024)

# --- Wagtail ----------------------------------------------------------------------------------
# The site's name (navbar, page titles, mails) and its public address (links in mails).
SITE_NAME = env_str("SITE_NAME", "Campaigns")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
WAGTAIL_SITE_NAME = SITE_NAME
WAGTAILADMIN_BASE_URL = SITE_URL
# The admin speaks the user's language (the site's switcher, users.User.language): Wagtail's own
# "preferred language" is kept equal to it (users.signals), and offers the same languages.
WAGTAILADMIN_PERMITTED_LANGUAGES = LANGUAGES
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["csv", "docx", "odt", "pdf", "pptx", "rtf", "txt", "xlsx", "zip"]
WAGTAIL_ENABLE_UPDATE_CHECK = False
# One way in, allauth's: it refuses unconfirmed addresses and applies the rate limits. Wagtail's
# own sign-in pages (/admin/login/, /_util/login/) redirect there (site_project/urls.py), and
# its password reset, password change and email change are off: allauth's reset is the one,
# and an email change must be confirmed.
WAGTAILADMIN_LOGIN_URL = LOGIN_URL
WAGTAIL_FRONTEND_LOGIN_URL = LOGIN_URL
WAGTAIL_PASSWORD_RESET_ENABLED = False
WAGTAIL_PASSWORD_MANAGEMENT_ENABLED = False
WAGTAIL_EMAIL_MANAGEMENT_ENABLED = False
# Wagtail's admin avatars come from gravatar.com by default: a request to a third party with
# a hash of each editor's address, and a broken picture offline. Use Wagtail's own instead.
WAGTAIL_GRAVATAR_PROVIDER_URL = None
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# --- django-apscheduler -----------------------------------------------------------------------
APSCHEDULER_DATETIME_FORMAT = "N j, Y, f:s a"
APSCHEDULER_RUN_NOW_TIMEOUT = 25

# --- Logging ------------------------------------------------------------------------------------
LOG_DIR = BASE_DIR / env_str("LOG_DIR", str(VAR_DIR / "log"))
# RotatingFileHandler's rollover is not safe across processes: give each long-running process
# its own file (`make run` starts the scheduler with LOG_FILE=var/log/scheduler.log).
LOG_FILE = BASE_DIR / env_str("LOG_FILE", str(LOG_DIR / "site.log"))
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {"()": "site_project.logging.StructuredFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "structured"},
        "file": {
            "class": "site_project.logging.MakedirsRotatingFileHandler",
            "filename": str(LOG_FILE),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 5,
            "formatter": "structured",
        },
    },
    "root": {"handlers": ["console", "file"], "level": "WARNING"},
    "loggers": {
        "django": {"level": "WARNING"},
        "apscheduler": {"level": "WARNING"},
        **{app: {"level": LOG_LEVEL} for app in ("core", "home", "blog", "mailing", "users")},
    },
}
