"""FanOps settings: one file, driven by the environment.

With no variables set FanOps runs on the embedded default (SQLite, Celery eager, DEBUG on).
Production sets DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, SECRET_KEY and DEBUG=0.
"""

from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

import fanops.logging  # noqa: F401  (connects the receiver that keeps Celery on LOGGING below)

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=not env.str("DATABASE_URL", default=""))
SECRET_KEY = env.str("SECRET_KEY", default="" if not DEBUG else "dev-only-not-secret")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "fanops.apps.AdminConfig",  # django.contrib.admin; its site refuses switched-off staff
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "axes",
    "customers",
    "tagging",
    "segmentation",
    "campaigns",
    "followups",
    "web",
    "devtools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "web.urls"
WSGI_APPLICATION = "fanops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'fanops.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves a few concurrent users: WAL lets readers go on while one
    # connection writes; IMMEDIATE takes the write lock when a transaction begins, so concurrent
    # writers wait their turn (up to `timeout` seconds) instead of failing "database is locked"
    # when a deferred transaction cannot upgrade its read lock (the busy timeout never helps then).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Sign-in lockout (django-axes): 5 failures lock a username from one address for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_LOCKOUT_CALLABLE = "fanops.api.axes_lockout_response"  # JSON 429 for the API
AXES_USERNAME_CALLABLE = "fanops.api.axes_username"  # cut to axes' 255-character column
AXES_CLIENT_IP_CALLABLE = "fanops.api.client_ip"  # the throttles' rule (NUM_PROXIES)

# Reverse proxies in front of FanOps that append to X-Forwarded-For (0: none, the client is
# REMOTE_ADDR and the header is ignored). Throttles and the sign-in lockout key on this address.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# Staff API tokens (POST /api/v1/auth/token/) expire after this many days.
STAFF_TOKEN_DAYS = env.int("STAFF_TOKEN_DAYS", default=30)

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production passes `check --deploy`) -------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "customers.auth.PosTokenAuthentication",
        "customers.auth.StaffTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only (another content type: 415); a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413.
    "DEFAULT_PARSER_CLASSES": ["fanops.api.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "fanops.api.ContentNegotiation",
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "fanops.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "fanops.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["fanops.api.PerCredentialThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "credential": env.str("API_THROTTLE_RATE", default="1200/min"),
        "auth_token": env.str("AUTH_TOKEN_THROTTLE_RATE", default="10/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FanOps API",
    "DESCRIPTION": "Orders, members, tags and labels for the POS and store staff.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "GenderEnum": "customers.models.Customer.Gender",
        "OrderKindEnum": "customers.models.Order.Kind",
        "TagGroupKindEnum": "tagging.models.TagGroup.Kind",
        "CampaignKindEnum": "campaigns.models.Campaign.Kind",
        "OrderChannelEnum": "customers.models.Order.Channel",
        "ContactChannelEnum": "campaigns.models.Contact.Channel",
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # 1 MiB: a batch of 500 orders fits comfortably
API_BATCH_MAX_ORDERS = 500
# A write of more fans at once (a CSV import) is not relabelled live: the next night reads
# them anyway (their orders are above its high water), and an import runs twice as fast.
LIVE_RELABEL_MAX_FANS = API_BATCH_MAX_ORDERS
API_BULK_TAG_MAX_CUSTOMERS = 10_000

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL  # embedded default: run tasks in-process
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_BEAT_SCHEDULE = {
    # 02:00 store time: after the POS end-of-day uploads, long before guides start their shift.
    # Monday to Saturday incremental (the fans whose orders moved); Sunday every order is read
    # again and any drift of the stored aggregates is repaired and reported (RelabelRun.drift).
    "segmentation-relabel-nightly": {
        "task": "segmentation.tasks.relabel",
        "schedule": crontab(hour=2, minute=0, day_of_week="1-6"),
        "options": {"expires": 3 * 60 * 60},  # not started within 3 h: the next night covers it
    },
    "segmentation-relabel-weekly-full": {
        "task": "segmentation.tasks.relabel",
        "schedule": crontab(hour=2, minute=0, day_of_week="0"),
        "kwargs": {"full": True},
        "options": {"expires": 3 * 60 * 60},
    },
    # 03:00 store time: after the POS uploads, tag participants of running events who bought.
    "campaigns-event-tags-nightly": {
        "task": "campaigns.tasks.refresh_event_tags",
        "schedule": crontab(hour=3, minute=0),
        "options": {"expires": 3 * 60 * 60},
    },
}

# --- Business rules (SPEC §2, §3) --------------------------------------------------------------
APPLE_RED_MIN_SPEND = Decimal(env.str("APPLE_RED_MIN_SPEND", default="3000.00"))
# Seed 000: per store, golden 3, red 1, yellow 2, green 5, blossom 1 — times the brand's unit.
APPLE_QUOTA_PER_STORE = {"golden": 3, "red": 1, "yellow": 2, "green": 5, "blossom": 1}
APPLE_QUOTA_UNIT = env.int("APPLE_QUOTA_UNIT", default=1)
REMARK_SEPARATOR = env.str("REMARK_SEPARATOR", default="-")
REMARK_MAX_LENGTH = 20  # WeChat keeps at most 20 characters of a remark
# A first relabel of at least this many fans builds a new labels table and swaps it in
# (PostgreSQL; segmentation.switch.swap_applies): below it the INSERT costs little.
RELABEL_SWAP_MIN_ROWS = env.int("RELABEL_SWAP_MIN_ROWS", default=100_000)
# Campaign do-not-disturb: at most N contacts per fan in a rolling window of D days.
CAMPAIGN_CONTACT_CAP = env.int("CAMPAIGN_CONTACT_CAP", default=2)
CAMPAIGN_CONTACT_WINDOW_DAYS = env.int("CAMPAIGN_CONTACT_WINDOW_DAYS", default=30)
# Follow-ups (docs/follow-ups.md). Both caps count the contact ledger, whatever the source.
FOLLOW_UP_WEEKLY_CAP = env.int("FOLLOW_UP_WEEKLY_CAP", default=2)  # contacts in 7 days: no new ones
FOLLOW_UP_HOLDOUT_PERCENT = env.int("FOLLOW_UP_HOLDOUT_PERCENT", default=10)
FOLLOW_UP_HOLDOUT_SEED = env.int("FOLLOW_UP_HOLDOUT_SEED", default=13)
FOLLOW_UP_EXPIRE_DAYS = env.int("FOLLOW_UP_EXPIRE_DAYS", default=14)  # after the due date
FOLLOW_UP_ESCALATION_DAYS = env.int("FOLLOW_UP_ESCALATION_DAYS", default=3)  # past due: manager
FOLLOW_UP_ATTRIBUTION_DAYS = env.int("FOLLOW_UP_ATTRIBUTION_DAYS", default=14)

# The `forecast` group (issue 14, docs/predictions.md): due_soon = next purchase expected within
# FORECAST_DUE_SOON_DAYS of as_of (or overdue) and p_alive at least FORECAST_DUE_SOON_P_ALIVE;
# at_risk = p_alive below FORECAST_AT_RISK_P_ALIVE with at least FORECAST_AT_RISK_MIN_SALES sale days.
FORECAST_DUE_SOON_DAYS = env.int("FORECAST_DUE_SOON_DAYS", default=30)
FORECAST_DUE_SOON_P_ALIVE = env.float("FORECAST_DUE_SOON_P_ALIVE", default=0.5)
FORECAST_AT_RISK_P_ALIVE = env.float("FORECAST_AT_RISK_P_ALIVE", default=0.3)
FORECAST_AT_RISK_MIN_SALES = env.int("FORECAST_AT_RISK_MIN_SALES", default=2)

# Every handler masks phones (fanops.logging), Django's request lines (runserver) included;
# gunicorn's logs: gunicorn.conf.py. No mail_admins handler: its report would carry the request.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_phones": {"()": "fanops.logging.MaskPhoneFilter"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_phones"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["mask_phones"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Replaces Django's default handlers of these loggers (unmasked console, mail_admins).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
    },
}
