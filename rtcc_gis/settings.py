"""rtcc-gis settings: everything that differs between machines comes from the environment.

Defaults are production's: DEBUG is off unless DJANGO_DEBUG=1, and the app refuses to start without a
real secret key and allowed hosts. `make demo` (scripts/local_env.sh) supplies a generated secret and
local hosts over plain HTTP; the tests run on rtcc_gis/settings_test.py, production-like as well.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import redis.exceptions
from celery.schedules import crontab
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Off unless asked for: the debug page shows settings, SQL and tracebacks to whoever triggers an error.
DEBUG = env_bool("DJANGO_DEBUG", False)

_DEV_SECRET = "dev-only-insecure-secret-key-change-me-rtcc-gis"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "" if not DEBUG else _DEV_SECRET)
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a strong secret (50+ chars) unless DJANGO_DEBUG=1")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set unless DJANGO_DEBUG=1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework_gis",
    "drf_spectacular",
    "leaflet",
    "csp",  # django-csp: the Content-Security-Policy header (apps.core.security)
    "django_otp",  # TOTP two-factor sign-in (apps.accounts.views)
    "django_otp.plugins.otp_totp",
    "channels",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.zones",
    "apps.units",
    "apps.incidents",
    "apps.cameras",
    "apps.alpr",
    "apps.sensors",
    "apps.feeds",
    "apps.intake",
    "apps.retention",
    "apps.live",
    "apps.search",
    "apps.tiles",
    "apps.hotspots",
    "apps.measures",
    "apps.exports",
    "apps.playback",
    "apps.console",  # the map page and the camera wall: the top floor (README, Layout)
]
# The demo city (apps.demo: its loader and simulator commands, and the simulated cameras' video and snapshot
# routes under /demo/) only where asked for: `make demo` and the tests set RTCC_DEMO=1; production leaves it out.
RTCC_DEMO = env_bool("RTCC_DEMO", False)
if RTCC_DEMO:
    INSTALLED_APPS.append("apps.demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # CSP and Permissions-Policy (apps/core/security.py); before WhiteNoise so static files get them too.
    "apps.core.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Cache-Control: no-store on everything but static files (served above) and views with their own caching.
    "apps.core.security.NoStoreMiddleware",
    # A part down (PostgreSQL, Redis) is a clear 503 with Retry-After, not a 500 (apps/core/unavailable.py); before
    # the session, auth and audit middleware so failures inside them are covered too.
    "apps.core.unavailable.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.audit.middleware.AuditRequestMiddleware",
    # A NUL in a query parameter is a 400 naming it, before any view hands it to PostgreSQL.
    "apps.core.params.NulQueryGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signs out sessions idle for RTCC_SESSION_IDLE_MINUTES (after auth and messages: it uses both).
    "apps.accounts.middleware.SessionIdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rtcc_gis.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
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

WSGI_APPLICATION = "rtcc_gis.wsgi.application"
ASGI_APPLICATION = "rtcc_gis.asgi.application"

# The web, ASGI and Celery processes connect as the app role (no superuser, no DDL, on the audit table only
# SELECT and INSERT); `manage.py migrate` connects as the owner role, which owns the schema (apps/core/dbroles.py).
# DATABASE_OWNER_URL is read only by migrate and the set-up scripts (apps.core.dbroles.owner_credentials), never
# here: the app processes do not hold the owner's password. scripts/setup.sh creates both roles with the admin
# connection (DATABASE_ADMIN_URL, used for nothing else).
DATABASE_URL = os.environ.get("DATABASE_URL", "postgis://rtcc_app@127.0.0.1:5432/rtcc_gis")
# Under ASGI every sync request runs in a fresh thread, so a persistent connection is never reused
# and only piles up until PostgreSQL refuses clients (seen in bench/ingest.py): close per request
# by default; use pgbouncer for pooling. Celery workers may set DB_CONN_MAX_AGE.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
# Whatever scheme the URL names, the spatial backend is required.
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
    "TEST_DATABASE_NAME", f"test_{DATABASES['default']['NAME']}"
)
# Test databases are created by the owner role, which may not CREATE EXTENSION postgis: they are copied from a
# template that scripts/setup.sh prepares with PostGIS (as the admin).
DATABASES["default"]["TEST"]["TEMPLATE"] = os.environ.get(
    "TEST_DATABASE_TEMPLATE", f"{DATABASES['default']['NAME']}_template"
)
DATABASE_APP_ROLE = DATABASES["default"]["USER"]

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "rtcc"),
    }
}

# redis-py 8 reads with a 5 s socket timeout by default, the same 5 s channels-redis blocks in
# BRPOP waiting for a message: an idle consumer's read then times out first and the map is
# disconnected (seen in bench/fanout.py). The socket timeout must outlast the BRPOP. (Tests that
# build their own channel layer take these hosts too.)
# retry_on_error: one immediate retry on a fresh connection, so a pooled connection Redis closed when it restarted
# is replaced instead of refusing a map (tests/test_faults_redis.py).
CHANNEL_LAYER_HOSTS = [
    {"address": REDIS_URL, "socket_timeout": 30, "retry_on_error": [redis.exceptions.ConnectionError]}
]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": CHANNEL_LAYER_HOSTS,
            "prefix": os.environ.get("CHANNELS_PREFIX", "rtcc"),
        },
    }
}

# Sign-in hardening (apps.accounts.lockout / views): failed logins per username and per client address
# (the address threshold is 4x), counted in Redis; 2FA policy.
RTCC_LOGIN_MAX_FAILURES = env_int("RTCC_LOGIN_MAX_FAILURES", 5)
RTCC_LOGIN_WINDOW_SECONDS = env_int("RTCC_LOGIN_WINDOW_SECONDS", 900)
RTCC_LOGIN_LOCKOUT_SECONDS = env_int("RTCC_LOGIN_LOCKOUT_SECONDS", 900)
RTCC_LOGIN_2FA_PENDING_SECONDS = env_int("RTCC_LOGIN_2FA_PENDING_SECONDS", 300)
RTCC_REQUIRE_2FA_FOR_STAFF = env_bool("RTCC_REQUIRE_2FA_FOR_STAFF", False)
RTCC_TOTP_ISSUER = os.environ.get("RTCC_TOTP_ISSUER", "RTCC")
# Two-factor codes are django-otp TOTP devices (SHA-1, 6 digits, 30 s, one step either side, each step once).
OTP_TOTP_ISSUER = RTCC_TOTP_ISSUER
# A code is accepted one step either side of now, no further: no drift learned from past codes.
OTP_TOTP_SYNC = False
# Wrong codes count against the sign-in lockout (apps.accounts.lockout, per username and address); django-otp's
# own per-device delay on top would refuse even the right code for a while after a typo.
OTP_TOTP_THROTTLE_FACTOR = 0
# A session unused for this long is signed out (apps.accounts.middleware; the live socket is refused too).
RTCC_SESSION_IDLE_MINUTES = env_int("RTCC_SESSION_IDLE_MINUTES", 30)
if RTCC_SESSION_IDLE_MINUTES < 1:
    raise ImproperlyConfigured(f"RTCC_SESSION_IDLE_MINUTES must be at least 1, got {RTCC_SESSION_IDLE_MINUTES}")

# The map follows the live socket (needs the ASGI server); off, it polls the REST layers.
RTCC_LIVE_MAP_ENABLED = env_bool("RTCC_LIVE_MAP_ENABLED", True)

# Live map updates (apps.live): stream keys, replay window per feed, unit coalescing, access re-check.
RTCC_LIVE_KEY_PREFIX = os.environ.get("RTCC_LIVE_KEY_PREFIX", f"{CHANNEL_LAYERS['default']['CONFIG']['prefix']}:live")
RTCC_LIVE_REPLAY_MAX = env_int("RTCC_LIVE_REPLAY_MAX", 10000)
RTCC_LIVE_COALESCE_MS = env_int("RTCC_LIVE_COALESCE_MS", 200)
RTCC_LIVE_ACCESS_TTL = env_int("RTCC_LIVE_ACCESS_TTL", 5)
RTCC_LIVE_CATCH_UP_SECONDS = env_int("RTCC_LIVE_CATCH_UP_SECONDS", 5)

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queues by kind of work, so each can get its own worker pool (README "Scaling"): feed polls must not
# wait behind a 10-minute hotspot run. Everything else stays on Celery's default queue "celery".
# A worker started without -Q consumes only "celery": start them with -Q celery,feeds,analytics.
CELERY_TASK_ROUTES = {
    "apps.feeds.tasks.*": {"queue": "feeds"},
    "apps.hotspots.tasks.*": {"queue": "analytics"},
    "apps.retention.tasks.*": {"queue": "analytics"},
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    "feeds-poll-due": {"task": "apps.feeds.tasks.feeds_poll_due", "schedule": 5.0},
    "cameras-check-health": {"task": "apps.cameras.tasks.cameras_check_health", "schedule": 120.0},
    "cameras-mark-silent-unknown": {"task": "apps.cameras.tasks.cameras_mark_silent_unknown", "schedule": 300.0},
    # 11:17 UTC is 03:17-04:17 in Seattle: the quietest hour for the batched deletes.
    "retention-purge-all": {
        "task": "apps.retention.tasks.retention_purge_all",
        "schedule": crontab(hour=11, minute=17),
    },
    # Each agency's default hotspot runs (last 28 days), kept warm for the planner's first look.
    "hotspots-refresh-defaults": {"task": "apps.hotspots.tasks.hotspots_refresh_defaults_task", "schedule": 3600.0},
    # Runs whose task was lost are written failed (reads already show them so: HotspotRun.is_stale).
    "hotspots-fail-stale": {"task": "apps.hotspots.tasks.hotspot_runs_fail_stale_task", "schedule": 120.0},
    # CAP alerts past their `expires` close (apps.sensors.tasks); a minute late at most.
    "alerts-close-expired": {"task": "apps.sensors.tasks.alerts_close_expired_task", "schedule": 60.0},
}
# The audit chain's head is signed and appended to a file outside the database every few minutes
# (apps/audit/checkpoints.py); `manage.py audit_verify` checks the chain against those lines. The HMAC key must
# not live in the database: production refuses to start without it; development keeps one in var/audit/.
RTCC_AUDIT_CHECKPOINT_KEY = os.environ.get("RTCC_AUDIT_CHECKPOINT_KEY", "")
if not DEBUG and len(RTCC_AUDIT_CHECKPOINT_KEY) < 32:
    raise ImproperlyConfigured("RTCC_AUDIT_CHECKPOINT_KEY must be set to a secret of 32+ chars when DJANGO_DEBUG=0")
# Made by scripts/local_env.sh; read (never created) when DEBUG is on and RTCC_AUDIT_CHECKPOINT_KEY is not set.
RTCC_AUDIT_CHECKPOINT_KEY_FILE = BASE_DIR / "var" / "audit" / "checkpoint.key"
RTCC_AUDIT_CHECKPOINT_PATH = Path(
    os.environ.get("RTCC_AUDIT_CHECKPOINT_PATH", BASE_DIR / "var" / "audit" / "checkpoints.log")
)
RTCC_AUDIT_CHECKPOINT_MINUTES = env_int("RTCC_AUDIT_CHECKPOINT_MINUTES", 10)
if RTCC_AUDIT_CHECKPOINT_MINUTES < 1:
    raise ImproperlyConfigured("RTCC_AUDIT_CHECKPOINT_MINUTES must be at least 1")
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "apps.audit.tasks.audit_checkpoint_task",
    "schedule": RTCC_AUDIT_CHECKPOINT_MINUTES * 60.0,
}
RTCC_RETENTION_BATCH_SIZE = env_int("RTCC_RETENTION_BATCH_SIZE", 5000)
RTCC_RETENTION_BUDGET_SECONDS = env_int("RTCC_RETENTION_BUDGET_SECONDS", 900)
# An identical hotspot run asked for within this many seconds is served from the cached one.
RTCC_HOTSPOT_CACHE_SECONDS = env_int("RTCC_HOTSPOT_CACHE_SECONDS", 3600)

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "map"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("RTCC_TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "apps.accounts.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.permissions.HasRolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's JSON parser, plus a 400 (not a 500) for bodies nested too deeply (apps/core/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "rtcc-gis API",
    "DESCRIPTION": "Common operating picture for Real-Time Crime Centers: layers as GeoJSON.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Several choice fields are called `kind`; each set gets its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "AssistKindEnum": "apps.measures.choices.AssistKind",
        "HotspotRunKindEnum": "apps.hotspots.choices.RunKind",
    },
}

# The map never asks the internet for tiles: the basemap is vector tiles of our own streets and
# zones (apps.tiles) unless an agency points RTCC_TILE_URL at its own (or an internet) tile server.
RTCC_TILE_URL = os.environ.get("RTCC_TILE_URL", "")
RTCC_TILE_ATTRIBUTION = os.environ.get("RTCC_TILE_ATTRIBUTION", "")
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (47.6062, -122.3321),
    "DEFAULT_ZOOM": 12,
    "MIN_ZOOM": 3,
    "MAX_ZOOM": 19,
    "TILES": [("Agency tiles", RTCC_TILE_URL, {"attribution": RTCC_TILE_ATTRIBUTION})] if RTCC_TILE_URL else [],
    "RESET_VIEW": False,
}

# Layer API limits and the spatial rules operators rely on.
RTCC_PAGE_SIZE = env_int("RTCC_PAGE_SIZE", 500)
RTCC_MAX_PAGE_SIZE = env_int("RTCC_MAX_PAGE_SIZE", 5000)
RTCC_CAMERA_SEARCH_RADIUS_M = env_int("RTCC_CAMERA_SEARCH_RADIUS_M", 1500)
RTCC_UNIT_STALE_SECONDS = env_int("RTCC_UNIT_STALE_SECONDS", 300)
RTCC_FEED_MAX_BYTES = env_int("RTCC_FEED_MAX_BYTES", 5 * 1024 * 1024)
RTCC_FEED_POLL_TIMEOUT = env_int("RTCC_FEED_POLL_TIMEOUT", 15)
# A file import alerts (gunshots) only for records newer than this: loading history never floods the alert queue.
RTCC_IMPORT_ALERT_WINDOW_SECONDS = env_int("RTCC_IMPORT_ALERT_WINDOW_SECONDS", 900)
RTCC_CAMERA_CHECK_TIMEOUT = env_int("RTCC_CAMERA_CHECK_TIMEOUT", 5)
RTCC_CAMERA_SILENT_SECONDS = env_int("RTCC_CAMERA_SILENT_SECONDS", 86400)
# Camera streams reach browsers only through our proxy (apps.cameras.api.proxy), on a signed grant minted by an
# audited open: how long a grant lives (a player renews it with another audited open; at most an hour), how often an
# open MJPEG relay re-checks that its viewer may still watch, and the proxy's upstream limits.
RTCC_STREAM_GRANT_SECONDS = env_int("RTCC_STREAM_GRANT_SECONDS", 300)
if not 10 <= RTCC_STREAM_GRANT_SECONDS <= 3600:
    raise ImproperlyConfigured(f"RTCC_STREAM_GRANT_SECONDS must be 10..3600, got {RTCC_STREAM_GRANT_SECONDS}")
RTCC_STREAM_RECHECK_SECONDS = env_int("RTCC_STREAM_RECHECK_SECONDS", 30)
if not 1 <= RTCC_STREAM_RECHECK_SECONDS <= 300:
    raise ImproperlyConfigured(f"RTCC_STREAM_RECHECK_SECONDS must be 1..300, got {RTCC_STREAM_RECHECK_SECONDS}")
RTCC_STREAM_UPSTREAM_TIMEOUT = env_int("RTCC_STREAM_UPSTREAM_TIMEOUT", 10)
if RTCC_STREAM_UPSTREAM_TIMEOUT < 1:
    raise ImproperlyConfigured(f"RTCC_STREAM_UPSTREAM_TIMEOUT must be at least 1, got {RTCC_STREAM_UPSTREAM_TIMEOUT}")
RTCC_STREAM_MAX_BYTES = env_int("RTCC_STREAM_MAX_BYTES", 16 * 1024 * 1024)
if RTCC_STREAM_MAX_BYTES < 1:
    raise ImproperlyConfigured(f"RTCC_STREAM_MAX_BYTES must be at least 1, got {RTCC_STREAM_MAX_BYTES}")
# Cameras on loopback, link-local, private or other non-public addresses (an agency's VMS network) are fetched only
# from the networks listed here (CIDR, comma-separated: "10.20.0.0/16,192.168.5.0/24"); empty: public addresses only.
RTCC_STREAM_ALLOWED_NETWORKS = env_list("RTCC_STREAM_ALLOWED_NETWORKS", [])
for _network in RTCC_STREAM_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network)
    except ValueError as exc:
        raise ImproperlyConfigured(f"RTCC_STREAM_ALLOWED_NETWORKS: {_network!r} is not a CIDR network: {exc}") from None
# The center's shifts for the workload measures, in the agency's time zone: "name=HH:MM" for each shift's start; a
# shift ends when the next one starts, the last wraps past midnight (apps.measures.shifts checks them at start-up).
RTCC_SHIFTS = env_list("RTCC_SHIFTS", ["day=07:00", "swing=15:00", "night=23:00"])

# --- HTTPS, cookies and security headers (tests/test_hardening_headers.py, test_hardening_settings.py) -----------
# Production (DJANGO_DEBUG=0) is HTTPS-only by default and `manage.py check --deploy` is clean there.
# Each default can be turned off by environment for a deployment that does TLS differently.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The map's JavaScript reads the CSRF cookie to send X-CSRFToken, so it cannot be HttpOnly (Django's own advice:
# HttpOnly on the CSRF cookie adds nothing, the token is in every form anyway).
CSRF_COOKIE_HTTPONLY = False
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Preloading commits the agency's whole registrable domain to HTTPS in every browser, for months, and cannot be
# undone quickly: it is the agency's decision, not this application's (security.W021 acknowledged below).
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy Django sees plain HTTP: without this, SSL redirect loops and cookies lose Secure.
# Only set it when the proxy always overwrites X-Forwarded-Proto; otherwise a client could claim HTTPS.
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (apps.core.security): images may come from our own origin and the agency's tile server;
# camera video is same-origin (the stream proxy), so no camera host is ever listed.
_CSP_SOURCE = re.compile(r"^(?:(?:https?|wss?)://)?(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::(?:\d{1,5}|\*))?/?$")


def csp_source(value: str, name: str) -> str:
    """A CSP host source (scheme://host[:port]); anything broader or stranger fails at start-up."""
    if not _CSP_SOURCE.match(value):
        raise ImproperlyConfigured(f"{name}: {value!r} is not a host source like https://tiles.example.org[:port]")
    return value.rstrip("/")


def csp_tile_source(url: str) -> list[str]:
    """The origin of RTCC_TILE_URL as a CSP source; Leaflet's {s} subdomain placeholder becomes a wildcard."""
    if not url:
        return []
    parts = urlsplit(url)
    return [csp_source(f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}", "RTCC_TILE_URL")]


if env_list("RTCC_CSP_MEDIA_HOSTS", []):  # a camera host in the policy would only be a way out for page data
    raise ImproperlyConfigured(
        "RTCC_CSP_MEDIA_HOSTS is no longer used: camera video goes through the stream proxy (same origin); "
        "remove it (cameras on a private network: RTCC_STREAM_ALLOWED_NETWORKS)"
    )
RTCC_CSP_TILE_SOURCES = csp_tile_source(RTCC_TILE_URL)
# The fixed part of the policy (django-csp); apps.core.security adds the tile server above, the live socket's origin,
# and the admin's nonce and inline styles, per response. The reasons are in that module.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],  # the nonce only on admin pages (django-csp adds it when one was used)
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Form and JSON API bodies (sign-in, opening a stream, acknowledging) larger than this are refused with a 400 before
# anything parses them; feed pushes read their body as a stream under their own cap, RTCC_FEED_MAX_BYTES (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_REQUEST_BYTES", 2 * 1024 * 1024)
# --- end of HTTPS, cookies and security headers ---------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Feed push tokens (OsmAnd's is in the URL path) are redacted by every handler, whatever logger the line
    # comes from: Django's own "django" (mail_admins) and "django.server" (runserver) handlers are replaced here
    # by filtered ones, so an emailed error report never carries a token.
    "filters": {
        "redact_tokens": {"()": "apps.feeds.redaction.RedactTokensFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]},
        "mail_admins": {
            "level": "ERROR",
            "class": "apps.feeds.redaction.RedactingAdminEmailHandler",  # the emailed report too
            "filters": ["require_debug_false", "redact_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": [], "level": "INFO"},  # to the root's console, redacted
        "django.db.backends": {"level": "WARNING"},
    },
}

# Audit checkpoints (apps/audit/checkpoints.py) also to syslog, off this host: a socket path (`/dev/log`) or
# `host:port` (UDP). Facility authpriv; the line is the same signed JSON the checkpoint file gets.
RTCC_AUDIT_CHECKPOINT_SYSLOG = os.environ.get("RTCC_AUDIT_CHECKPOINT_SYSLOG", "").strip()
if RTCC_AUDIT_CHECKPOINT_SYSLOG:
    if RTCC_AUDIT_CHECKPOINT_SYSLOG.startswith("/"):
        _syslog_address: str | tuple[str, int] = RTCC_AUDIT_CHECKPOINT_SYSLOG
    else:
        _host, _, _port = RTCC_AUDIT_CHECKPOINT_SYSLOG.rpartition(":")
        if not _host or not _port.isascii() or not _port.isdigit() or not 0 < int(_port) < 65536:
            raise ImproperlyConfigured(
                f"RTCC_AUDIT_CHECKPOINT_SYSLOG must be a socket path or host:port, got {RTCC_AUDIT_CHECKPOINT_SYSLOG!r}"
            )
        _syslog_address = (_host.strip("[]"), int(_port))
    LOGGING["handlers"]["audit_syslog"] = {
        "class": "logging.handlers.SysLogHandler",
        "address": _syslog_address,
        "facility": "authpriv",
        "formatter": "plain",
        "filters": ["redact_tokens"],
    }
    LOGGING["loggers"]["rtcc.audit.checkpoint"] = {"handlers": ["audit_syslog"], "level": "INFO"}

# Acknowledged system checks, each for a stated reason (`manage.py check --deploy` is otherwise clean in production,
# tests/test_hardening_gdal.py keeps it so):
# - gis.W001: GDAL 3.6 cannot block file/network access from spatial reference input. No user text reaches GDAL/OGR:
#   SRIDs come only from apps.core.geo.ALLOWED_SRIDS, coordinates and bboxes are parsed as numbers and built into
#   GEOS geometries, and the only spatial reference GDAL parses is PostGIS's own WKT for EPSG:4326 (Django's distance
#   functions); tests/test_hardening_gdal.py records every GDAL text parser call while imports, feeds and the API run.
# - security.W021: HSTS preload is the agency's decision for its whole domain (DJANGO_SECURE_HSTS_PRELOAD above).
SILENCED_SYSTEM_CHECKS = ["gis.W001", "security.W021"]

# Where the real public data sets live (optional; the demo and tests work without them).
RTCC_SHARED_DATA_DIR = Path(os.environ.get("RTCC_SHARED_DATA_DIR", BASE_DIR.parent / "shared" / "data"))
