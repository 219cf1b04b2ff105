"""Settings shared by every environment.

Every value that differs between deployments comes from the environment via one
``environ.Env()``; the defaults here are safe for local development only.
"""

import datetime as dt
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
env.smart_cast = False

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: no CDN at run time
    "simple_history",
    "axes",
    "trials",
    "analytics",
    "pro",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "config.edge.MalformedRequestMiddleware",  # NUL characters → 400, oversized bodies → 413, for every request
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The patient's questionnaire page speaks the patient's language (Accept-Language, or the page's language
    # switch, which sets the django_language cookie); staff pages are written in English.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: turns a lockout flagged during authentication into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trials.web.context.registry_nav",
            ],
        },
    },
]

# Embedded default: an SQLite file in the repository root. Services mode:
# DATABASE_URL=postgres://user@host:5432/name
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
# A persistent connection that the server closed (PostgreSQL restarted, idle timeout) is checked and
# replaced at the start of the next request, instead of that request failing with a 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Interface languages (issue 15): English and Spanish; compiled catalogues are committed under locale/, so a
# checkout runs without gettext (``make messages`` regenerates them where gettext is installed).
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The study name patients see on the questionnaire page (with their site and visit, nothing else).
REGISTRY_STUDY_NAME = env("REGISTRY_STUDY_NAME", default="TRIBUTE bone metastasis ablation registry")
# Refused questionnaire links a client may present per window before every link answers 429 (pro.patient.throttle).
PRO_LINK_FAILURE_LIMIT = env.int("PRO_LINK_FAILURE_LIMIT", default=20)
PRO_LINK_FAILURE_WINDOW_SECONDS = env.int("PRO_LINK_FAILURE_WINDOW_SECONDS", default=15 * 60)
FORMAT_MODULE_PATH = ["config.formats"]  # one UI date format: 29 Nov 2026 (issue 11)
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "media/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=60 * 60 * 8)
SESSION_SAVE_EVERY_REQUEST = True

# --- Celery -----------------------------------------------------------------
# With no broker configured (the embedded default) tasks run eagerly in the
# calling process, so `make run` needs no Redis.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# An unacknowledged task (its worker died) is redelivered after this many seconds;
# it must exceed the longest report run, or a slow run would be started twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
# Queue that tasks are sent to and that a worker started without -Q consumes.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Run recovery (issue 14): the worker stamps a running run's heartbeat every REPORTS_HEARTBEAT_SECONDS;
# beat sweeps every REPORTS_RECOVERY_SWEEP_SECONDS and re-queues a running run whose heartbeat is older than
# REPORTS_HEARTBEAT_STALE_SECONDS (its worker was killed), or fails it once it was started
# REPORTS_RECOVERY_MAX_ATTEMPTS times. A killed run is thus back in the queue within stale + sweep seconds.
REPORTS_HEARTBEAT_SECONDS = env.float("REPORTS_HEARTBEAT_SECONDS", default=20.0)
REPORTS_HEARTBEAT_STALE_SECONDS = env.float("REPORTS_HEARTBEAT_STALE_SECONDS", default=120.0)
REPORTS_RECOVERY_SWEEP_SECONDS = env.float("REPORTS_RECOVERY_SWEEP_SECONDS", default=60.0)
REPORTS_RECOVERY_MAX_ATTEMPTS = env.int("REPORTS_RECOVERY_MAX_ATTEMPTS", default=3)
if REPORTS_HEARTBEAT_STALE_SECONDS < 3 * REPORTS_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "REPORTS_HEARTBEAT_STALE_SECONDS must be at least 3 x REPORTS_HEARTBEAT_SECONDS, "
        "or a slow database write would get a live run re-queued."
    )
# Fit fan-out (issue 17, analytics/fanout.py): with a Redis broker and real workers the compute stage's fit jobs
# are shared with every worker on the report's queue. A unit taken by a worker that sends nothing back within
# REPORTS_FIT_UNIT_TIMEOUT_SECONDS is re-run by the run's own worker; the frames and bookkeeping in Redis
# expire after REPORTS_FANOUT_TTL_SECONDS at the latest.
REPORTS_FIT_FANOUT = env.bool("REPORTS_FIT_FANOUT", default=True)
REPORTS_FIT_UNIT_TIMEOUT_SECONDS = env.float("REPORTS_FIT_UNIT_TIMEOUT_SECONDS", default=300.0)
REPORTS_FANOUT_TTL_SECONDS = env.int("REPORTS_FANOUT_TTL_SECONDS", default=3600)
# PostgreSQL work_mem of a report's extraction transaction (issue 17): with the server's default (4MB) the pain
# frame's hash join runs in 8 batches through temporary files and the medication sort spills to disk at 100,000
# patients; 64MB keeps both in memory (backend 0.97 -> 0.83 s and 0.68 -> 0.54 s). Per sort or hash node of the one
# extraction query running at a time, and only inside that transaction ("" leaves the server's value).
REPORTS_EXTRACT_WORK_MEM = env.str("REPORTS_EXTRACT_WORK_MEM", default="64MB")
# Issue 17 (worker memory): a report run has glibc map every allocation of at least this many bytes on its own and
# unmap it when freed, instead of keeping freed large arrays in the heap for reuse (glibc's default threshold climbs
# to 32 MB as a run frees large arrays, and the kept blocks were 20-70 MB of a 100,000-patient run's peak). 0 leaves
# glibc's default; elsewhere than glibc it does nothing. 4 MiB: below it the extra page faults cost CPU.
REPORTS_MALLOC_MMAP_THRESHOLD = env.int("REPORTS_MALLOC_MMAP_THRESHOLD", default=4 * 1024 * 1024)
CELERY_BEAT_SCHEDULE = {
    "refresh-default-report-nightly": {
        "task": "analytics.tasks.refresh_default_report",
        "schedule": crontab(hour=2, minute=30),
    },
    "recover-stalled-report-runs": {
        "task": "analytics.tasks.recover_stalled_report_runs",
        "schedule": REPORTS_RECOVERY_SWEEP_SECONDS,
        "options": {"expires": REPORTS_RECOVERY_SWEEP_SECONDS},  # sweeps queued behind a busy worker are dropped, not piled up
    },
}

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "apicore.schema.RegistryAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apicore.tokens.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "apicore.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": ["apicore.parsers.RegistryJSONParser"],
    # Rates are read per request (apicore.throttling), so tests and deployments can change them.
    "DEFAULT_THROTTLE_RATES": {
        "login": env("API_THROTTLE_LOGIN", default="10/minute"),
        "user": env("API_THROTTLE_USER", default="1200/minute"),
        "anon": env("API_THROTTLE_ANON", default="120/minute"),
    },
}
API_TOKEN_LIFETIME_HOURS = env.float("API_TOKEN_LIFETIME_HOURS", default=12)
SPECTACULAR_SETTINGS = {
    "TITLE": "Bone Metastasis Ablation Registry API",
    "DESCRIPTION": "Registry of percutaneous ablation of bone metastases (TRIBUTE-like).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the signature-meaning choices (the visit signature serializer and the sign-off API share them).
    "ENUM_NAME_OVERRIDES": {
        "SignatureMeaningEnum": "trials.models.data_management.SignatureMeaning",
        "AnswerSourceEnum": "trials.models.visits.AnswerSource",  # BPI source and opioid source (issue 15)
    },
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apicore.schema.role_views_any_of",
    ],
}

REGISTRY_STUDY_CODE = env("REGISTRY_STUDY_CODE", default="TRIBUTE-REG")

# --- Patient-reported outcomes (pro/, issue 15; docs/pro.md) ---------------------
# Fernet key(s) encrypting patient contact details at rest: comma-separated, newest first. No default here:
# config/settings/local.py and test.py give a development-only key, production requires the variable.
PRO_CONTACT_KEY = env("PRO_CONTACT_KEY", default="")
PRO_CONTACT_KEY_REQUIRED = False  # production: True, so the development-only key is refused at start
# Contact details are erased this many days after the patient's study exit (pro.tasks.erase_contacts_after_exit).
PRO_CONTACT_RETENTION_DAYS = env.int("PRO_CONTACT_RETENTION_DAYS", default=30)
# Reminders: days after the invitation (site-local) on which a reminder goes out while the window is open.
PRO_REMINDER_OFFSETS_DAYS = [int(x) for x in env.list("PRO_REMINDER_OFFSETS_DAYS", default=["1", "3"])]
# The local hour (site time zone) from which the daily job sends a day's invitations and reminders.
PRO_SEND_FROM_HOUR = env.int("PRO_SEND_FROM_HOUR", default=8)
# Invitations the job claims and logs per transaction; their messages go out after it committed (no row lock is
# held while talking to SMTP), and a second short transaction records them.
PRO_SEND_BATCH_SIZE = env.int("PRO_SEND_BATCH_SIZE", default=100)
# A claimed message not confirmed sent after this many seconds (its process died) is logged "failed: interrupted"
# by the next tick and sent again (at least once across a crash). A live batch starts no SMTP exchange after half
# of it, so a slow relay never makes a message look interrupted while it is still being sent.
PRO_SENDING_TIMEOUT_SECONDS = env.int("PRO_SENDING_TIMEOUT_SECONDS", default=30 * 60)
# SMTP connections (one sending thread each) a tick keeps open: a batch's round trips to the relay overlap.
PRO_SMTP_CONNECTIONS = env.int("PRO_SMTP_CONNECTIONS", default=4)
# The absolute address of the site for links in e-mails (no trailing slash), e.g. https://registry.example.org.
PRO_PUBLIC_BASE_URL = env("PRO_PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
PRO_FROM_EMAIL = env("PRO_FROM_EMAIL", default="registry-questionnaires@localhost")
# Visits patients are invited for (schedule codes); baseline is collected in clinic.
PRO_VISIT_CODES = env.list("PRO_VISIT_CODES", default=["day3", "week1", "month1", "month3", "month6", "month12"])
# The invitation job runs hourly (each site's messages go out on the first tick after PRO_SEND_FROM_HOUR local time);
# PRO_INVITATIONS_EVERY_SECONDS replaces the hourly crontab (the integration test uses 1 s).
PRO_INVITATIONS_EVERY_SECONDS = env.float("PRO_INVITATIONS_EVERY_SECONDS", default=0)
CELERY_BEAT_SCHEDULE["pro-send-invitations"] = {
    "task": "pro.tasks.send_invitations",
    "schedule": PRO_INVITATIONS_EVERY_SECONDS or crontab(minute=5),
    "options": {"expires": PRO_INVITATIONS_EVERY_SECONDS or 3000},  # a tick queued behind a busy worker is dropped
}
CELERY_BEAT_SCHEDULE["pro-erase-exited-contacts"] = {
    "task": "pro.tasks.erase_exited_contacts",
    "schedule": crontab(hour=3, minute=15),
}

# --- E-mail -------------------------------------------------------------------
# SMTP when EMAIL_HOST is set; otherwise (the embedded default) every message is written as a file to
# MEDIA_ROOT/outbox, so `make run` shows the invitations the demo produces.
EMAIL_HOST = env("EMAIL_HOST", default="")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
    EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(MEDIA_ROOT / "outbox")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Login protection (trials/login_protection.py) ----------------------------
# django-axes first: it refuses locked-out accounts/addresses before any password is checked,
# for the web login, the admin login and API token logins alike.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "trials.backends.CaseInsensitiveModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # per account, and per address, independently
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "trials.login_protection.lockout_username"
AXES_CLIENT_IP_CALLABLE = "config.proxies.client_ip"
AXES_LOCKOUT_CALLABLE = "trials.login_protection.lockout_response"
# Proxy trust is explicit: how many reverse proxies we run in front of gunicorn. 0 (default): the
# X-Forwarded-For header is ignored and the TCP peer is the client (config/proxies.py).
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES

# Cache (throttle counters, login attempts): Redis when one is configured — DJANGO_CACHE_URL, or
# else the Redis broker — so every gunicorn worker shares the counts; otherwise per process, and
# login attempts are kept in the database instead.
CACHE_URL = env("DJANGO_CACHE_URL", default="") or (CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.PrefixedRedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env("DJANGO_CACHE_KEY_PREFIX", default="registry-cache"),
        }
    }
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if CACHE_URL else "axes.handlers.database.AxesDatabaseHandler"

# --- Analytics report runs (analytics/) ---------------------------------------
# Artifacts live in MEDIA_ROOT/reports/<run id>/. A run still queued/running
# after REPORTS_STALE_AFTER_SECONDS is marked failed by the nightly refresh.
REPORTS_STALE_AFTER_SECONDS = env.int("REPORTS_STALE_AFTER_SECONDS", default=6 * 3600)
# Investigators and data managers may each have this many report runs queued or running at once (429 beyond).
REPORTS_MAX_ACTIVE_RUNS_PER_USER = env.int("REPORTS_MAX_ACTIVE_RUNS_PER_USER", default=3)

# Reasons for change are free text of any length (the library default is 100 characters).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# Security headers beyond Django's SecurityMiddleware (config.middleware.SecurityHeadersMiddleware).
CONTENT_SECURITY_POLICY = env(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default="default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=()"
