"""Settings, all from the environment.

With no environment at all the site runs on the embedded defaults: SQLite, Celery tasks
run eagerly in the web process, e-mail printed to the console and the demo payment
provider. Production differs only by environment variables (see README, "Configuration").
A service that is switched on but not fully configured stops start-up with a message
that names the variable to set.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The embedded defaults are for a laptop; a deployment sets DJANGO_SECRET_KEY.
PRODUCTION = env.bool("MUSEUM_PRODUCTION", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: production needs its own secret key.")
    SECRET_KEY = "insecure-local-development-key-change-me-in-production-0123456789"  # noqa: S105

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("MUSEUM_SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
MUSEUM_NAME = env.str("MUSEUM_NAME", default="Museum")

INSTALLED_APPS = [
    "modeltranslation",  # must precede django.contrib.admin
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # the API docs page serves Redoc itself, no CDN
    "anymail",
    "allauth",
    "allauth.account",
    "allauth.mfa",  # staff sign in with a second factor (museum.staff)
    "museum",
    "accounts",
    "ticketing",
    "newsletter",
    "guides",
    "badges",
    "refunds",
    "lostfound",
    "privacy",
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
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "museum.staff.StaffTwoFactorMiddleware",  # no admin for staff without TOTP
    "museum.admin_guard.AdminBadSelectionMiddleware",  # a tampered selection: 400
    "privacy.middleware.TrackerScriptCSPMiddleware",  # after CSPMiddleware: runs before it
    "privacy.middleware.PageViewMiddleware",  # first-party counts, no personal data
]

ROOT_URLCONF = "museum.urls"
WSGI_APPLICATION = "museum.wsgi.application"
SITE_ID = 1

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
                "django.template.context_processors.i18n",
                "museum.context_processors.museum",
                "accounts.context_processors.card_shop",
                "privacy.consent.cookie_consent",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # transactions belong to services
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery ------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="museum"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    # Sessions read from Redis, written through to the database (survive a cache flush).
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = env.str("MUSEUM_TIME_ZONE", default="Europe/Brussels")
CELERY_BEAT_SCHEDULE = {
    "generate-time-slots": {
        "task": "ticketing.tasks.generate_time_slots",
        "schedule": crontab(minute=15, hour=2),
    },
    "release-expired-holds": {
        "task": "ticketing.tasks.release_expired_holds",
        "schedule": timedelta(minutes=1),
    },
    "flush-page-views": {
        "task": "privacy.tasks.flush_page_views",
        "schedule": timedelta(minutes=1),
    },
    "purge-idempotency-keys": {
        "task": "ticketing.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=40, hour=3),
    },
    "retry-stale-outbox": {
        "task": "museum.tasks.retry_stale_emails",
        "schedule": timedelta(minutes=5),
    },
    "send-due-gift-cards": {
        "task": "accounts.tasks.send_due_gift_cards",
        "schedule": crontab(minute=5, hour=7),
    },
    "privacy-nightly-purge": {
        "task": "privacy.tasks.nightly_purge",
        "schedule": crontab(minute=30, hour=1),
    },
    "refunds-apply-defaults": {
        "task": "refunds.tasks.apply_default_choices",
        "schedule": crontab(minute=20),
    },
    "refunds-resend-stale": {
        "task": "refunds.tasks.resend_stale_refunds",
        "schedule": timedelta(minutes=15),
    },
}

# --- E-mail -----------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Museum tickets <tickets@museum.example>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", default="console")
_ANYMAIL_BACKENDS = {
    "mailgun": ("anymail.backends.mailgun.EmailBackend", ["MAILGUN_API_KEY"]),
    "postmark": ("anymail.backends.postmark.EmailBackend", ["POSTMARK_SERVER_TOKEN"]),
    "sendgrid": ("anymail.backends.sendgrid.EmailBackend", ["SENDGRID_API_KEY"]),
    "brevo": ("anymail.backends.brevo.EmailBackend", ["BREVO_API_KEY"]),
    "mailjet": ("anymail.backends.mailjet.EmailBackend", ["MAILJET_API_KEY", "MAILJET_SECRET_KEY"]),
    "amazon_ses": ("anymail.backends.amazon_ses.EmailBackend", []),
}
ANYMAIL: dict[str, str] = {}
if EMAIL_PROVIDER == "console":
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
elif EMAIL_PROVIDER == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
elif EMAIL_PROVIDER == "test":
    EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
elif EMAIL_PROVIDER == "file":
    # One file per message in EMAIL_FILE_PATH: for tests that run a separate worker process.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent-emails"))
elif EMAIL_PROVIDER in _ANYMAIL_BACKENDS:
    EMAIL_BACKEND, _required = _ANYMAIL_BACKENDS[EMAIL_PROVIDER]
    # The provider's tracking webhooks (opens count as activity for the retention rules)
    # are authenticated with this shared secret: without it anyone could post events.
    _missing = [
        name for name in [*_required, "ANYMAIL_WEBHOOK_SECRET"] if not env.str(name, default="")
    ]
    if _missing:
        raise ImproperlyConfigured(
            f"EMAIL_PROVIDER={EMAIL_PROVIDER} needs {', '.join(_missing)} in the environment."
        )
    ANYMAIL = {name: env.str(name) for name in _required}
    ANYMAIL["WEBHOOK_SECRET"] = env.str("ANYMAIL_WEBHOOK_SECRET")
else:
    raise ImproperlyConfigured(
        f"EMAIL_PROVIDER={EMAIL_PROVIDER!r} is unknown; use console, smtp, test, file or one of "
        + ", ".join(sorted(_ANYMAIL_BACKENDS))
    )

# --- Payments ---------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
if STRIPE_SECRET_KEY and not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: set the signing secret "
        "of the webhook endpoint (whsec_…) so that payments can be confirmed."
    )
if STRIPE_WEBHOOK_SECRET and not STRIPE_SECRET_KEY:
    raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET is set but STRIPE_SECRET_KEY is not.")
PAYMENT_PROVIDER = "stripe" if STRIPE_SECRET_KEY else "demo"
ALLOW_DEMO_PAYMENTS = env.bool("MUSEUM_ALLOW_DEMO_PAYMENTS", default=not PRODUCTION)
if PAYMENT_PROVIDER == "demo" and not ALLOW_DEMO_PAYMENTS:
    raise ImproperlyConfigured(
        "No payment provider is configured: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, "
        "or MUSEUM_ALLOW_DEMO_PAYMENTS=true to run the demo provider (no money moves)."
    )

# --- Ticketing rules ----------------------------------------------------------------------
TICKETING = {
    "HOLD_MINUTES": env.int("TICKETING_HOLD_MINUTES", default=15),
    "CHECKIN_GRACE_MINUTES": env.int("TICKETING_CHECKIN_GRACE_MINUTES", default=15),
    "SLOT_HORIZON_DAYS": env.int("TICKETING_SLOT_HORIZON_DAYS", default=60),
    "FEW_LEFT_THRESHOLD": env.float("TICKETING_FEW_LEFT_RATIO", default=0.2),
    # How long the public day page may show availability from the cache (0: never). Off in
    # development and tests, where a page must show a sale at once; see docs/performance.md.
    "DAY_PAGE_CACHE_SECONDS": env.int(
        "TICKETING_DAY_PAGE_CACHE_SECONDS", default=3 if PRODUCTION else 0
    ),
    "CURRENCY": "EUR",
}

# --- Refunds ----------------------------------------------------------------------------
REFUNDS = {
    # A buyer may ask to cancel up to this many hours before the first ticket's slot.
    "REQUEST_CUTOFF_HOURS": env.int("REFUNDS_REQUEST_CUTOFF_HOURS", default=48),
    # A voucher given instead of money is valid this many months.
    "VOUCHER_MONTHS": env.int("REFUNDS_VOUCHER_MONTHS", default=12),
    # How far ahead a buyer whose visit was cancelled may move it.
    "REBOOK_DAYS": env.int("REFUNDS_REBOOK_DAYS", default=90),
}
# Bank details are erased this many days after the transfer is confirmed.
REFUNDS_BANK_DETAILS_MARGIN_DAYS = env.int("REFUNDS_BANK_DETAILS_MARGIN_DAYS", default=30)
# The museum's account that bank refunds are paid from (the debtor of the SEPA file).
# In production there is no default: exporting a transfer file refuses to run without them.
REFUNDS_DEBTOR_NAME = env.str(
    "REFUNDS_DEBTOR_NAME", default="" if PRODUCTION else "Museum (demo account)"
)
REFUNDS_DEBTOR_IBAN = env.str(
    "REFUNDS_DEBTOR_IBAN", default="" if PRODUCTION else "BE68539007547034"
)
REFUNDS_DEBTOR_BIC = env.str("REFUNDS_DEBTOR_BIC", default="")

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"  # allauth's e-mails go through the outbox
ACCOUNT_PREVENT_ENUMERATION = True  # the same answer whether or not an e-mail is known
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False  # verification by a link in the e-mail
ACCOUNT_CHANGE_EMAIL = True  # one address per account; a new one is verified first
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_NOTIFICATIONS = True  # tell the holder when the password or e-mail changes
ACCOUNT_RATE_LIMITS = {
    "login": env.str("RATE_LIMIT_LOGIN", default="30/m/ip"),
    "login_failed": env.str("RATE_LIMIT_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    "signup": env.str("RATE_LIMIT_SIGNUP", default="20/m/ip"),
    "reset_password": env.str("RATE_LIMIT_RESET_PASSWORD", default="20/m/ip,5/m/key"),
    "confirm_email": env.str("RATE_LIMIT_CONFIRM_EMAIL", default="1/3m/key"),
}
# Staff: two-factor sign-in (allauth.mfa), required by museum.staff for /admin/ and /check-in/.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = MUSEUM_NAME

# --- I18n -------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("fr", _("French")),
    ("nl", _("Dutch")),
    ("fi", _("Finnish")),
    ("sv", _("Swedish")),
]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("MUSEUM_TIME_ZONE", default="Europe/Brussels")
USE_I18N = True
USE_TZ = True

# --- Static -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
if not PRODUCTION and not STATIC_ROOT.exists():
    # No collected files (development, tests): nothing for WhiteNoise to serve; runserver
    # serves static files itself in DEBUG.
    MIDDLEWARE.remove("whitenoise.middleware.WhiteNoiseMiddleware")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["ticketing.api.auth.ResellerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ticketing.api.auth.IsReseller"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["ticketing.api.auth.ResellerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"reseller": env.str("API_RATE", default="6000/min")},
    "EXCEPTION_HANDLER": "ticketing.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Museum reseller API",
    "DESCRIPTION": "Time slots, orders and tickets for authorised resellers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "REDOC_DIST": "SIDECAR",
}

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "form-action": ["'self'", "https://checkout.stripe.com"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
    }
}
# Privacy: who answers data-protection questions, the authority named in the notice, and
# how many days before anonymising an inactive account the person is told.
PRIVACY_CONTACT_EMAIL = env.str("PRIVACY_CONTACT_EMAIL", default="")
PRIVACY_SUPERVISORY_AUTHORITY = env.str("PRIVACY_SUPERVISORY_AUTHORITY", default="")
PRIVACY_INACTIVITY_NOTICE_DAYS = env.int("PRIVACY_INACTIVITY_NOTICE_DAYS", default=30)
# Page-view statistics counted in Redis and written every minute (no write per page view).
PRIVACY_PAGE_VIEWS_BUFFERED = env.bool(
    "PRIVACY_PAGE_VIEWS_BUFFERED", default=PRODUCTION and bool(REDIS_URL)
)
if PRIVACY_PAGE_VIEWS_BUFFERED and not REDIS_URL:
    raise ImproperlyConfigured("PRIVACY_PAGE_VIEWS_BUFFERED needs REDIS_URL.")

RATE_LIMITS = {
    "checkout": env.str("RATE_LIMIT_CHECKOUT", default="30/10m"),
    "order_lookup": env.str("RATE_LIMIT_ORDER_LOOKUP", default="60/10m"),
    "check_in": env.str("RATE_LIMIT_CHECK_IN", default="100000/1m"),
    # The public subject request page (each request e-mails a confirmation link).
    "privacy_request": env.str("RATE_LIMIT_PRIVACY_REQUEST", default="10/10m"),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
