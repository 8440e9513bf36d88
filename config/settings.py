"""The one settings module: everything that differs between machines comes from the environment (.env.example
lists every variable). Under pytest, .env is not read and local test defaults apply."""

import hashlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ

from core.env import check_production_secrets, is_test_run

BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = is_test_run()

env = environ.Env()
if not TESTING:
    env_file = Path(os.environ.get("DJANGO_ENV_FILE", BASE_DIR / ".env"))
    if env_file.is_file():
        env.read_env(str(env_file))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
_DEV_SECRET = "local-development-only-secret-key-not-for-production"  # noqa: S105  (DEBUG/tests only)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET if (DEBUG or TESTING) else "")
JWT_SIGNING_KEY = env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY
# Fernet key(s), comma-separated, newest first; stores' admin credentials are encrypted with them at rest.
CREDENTIALS_ENCRYPTION_KEY = env.str("CREDENTIALS_ENCRYPTION_KEY", default="")
if not TESTING:
    check_production_secrets(
        {
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "CREDENTIALS_ENCRYPTION_KEY": CREDENTIALS_ENCRYPTION_KEY,
            "JWT_SIGNING_KEY": os.environ.get("JWT_SIGNING_KEY"),
        },
        debug=DEBUG,
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "audit",
    "accounts",
    "stores",
    "provisioning",
    "backups",
    "config.apps.PlatformConfig",  # start-up checks (config.checks)
    "axes",
    "corsheaders",
    "csp",
    "django_prometheus",
]

# Prometheus outermost (it times everything); access log and rate limit right inside the request id (their lines and
# 429s carry it), CORS before the limit (a refused cross-origin call is still readable), CSP beside Django's security
# headers, axes after authentication.
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.logging.AccessLogMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "core.security.ApiRateLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.CSPMiddleware",  # django-csp's, the plain policy built once
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ApiErrorMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False
# Django's own CSRF page has inline styles the CSP blocks; ours has the pages' look.
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

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
            ],
        },
    },
]

_database_url = env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/storeplane")
DATABASES = {
    "default": {
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),  # a conn_max_age in DATABASE_URL wins
        **_database_url,
        # django-prometheus's wrapper of Django's PostgreSQL backend: query counts and latencies per process.
        "ENGINE": "django_prometheus.db.backends.postgresql",
        "OPTIONS": {
            **_database_url.get("OPTIONS", {}),
            "connect_timeout": 5,
            "options": "-c statement_timeout=30000",
        },
        # Each test run gets its own test database (checkout and process, as the Redis prefix), so two runs on one
        # machine never collide: not two checkouts, nor two sessions testing one checkout at once.
        "TEST": {
            "NAME": f"test_{_database_url['NAME']}_{hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]}"
            f"_{os.getpid()}"
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Every Redis key the platform writes starts with this prefix; a test run gets its own so runs never collide.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default=f"sp-test-{os.getpid()}" if TESTING else "storeplane")
CACHES = {
    "default": {
        # Django's own Redis backend, counting gets, hits and misses for django-prometheus.
        "BACKEND": "core.metrics.InstrumentedRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

AUTH_USER_MODEL = "accounts.User"
# Argon2id with bounded memory (accounts.hashers: OWASP's m=7 MiB, t=5, p=1); hashes made with Django's Argon2
# defaults still verify and are rehashed at the next login; PBKDF2 hashes still verify too.
PASSWORD_HASHERS = [
    "accounts.hashers.BoundedArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Argon2 hashes one process computes at once (each holds 7 MiB while it runs): bounds a worker's memory in a burst.
PASSWORD_HASH_CONCURRENCY = env.int("PASSWORD_HASH_CONCURRENCY", default=2)
if TESTING:  # Argon2's cost is for attackers, not for the test suite
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
LOGIN_URL = "/login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# Where collectstatic writes (and, with DJANGO_DEBUG off, WhiteNoise serves from, manifest included).
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if (DEBUG or TESTING)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Request bodies: the contract's 256 KB limit (413 PAYLOAD_TOO_LARGE).
MAX_REQUEST_BODY_BYTES = 256 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["core.api.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.FormParser"],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=env.int("JWT_ACCESS_TOKEN_HOURS", default=24)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_TOKEN_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": False,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "storeplane API",
    "DESCRIPTION": "Create, watch, retry and delete isolated e-commerce stores on Kubernetes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Every /api/ operation the global rate limit covers documents its 429 and RateLimit-* headers.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.security.openapi_rate_limit_responses",
    ],
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Separate queues per Redis prefix, so a test run's tasks never reach a developer's worker (and back).
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_KEY_PREFIX}.default"

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
# Secrets are scrubbed from every record (the redact filter), whichever logger wrote it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.logging.ContextFilter"},
        "redact": {"()": "core.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            # Under pytest: the sys.stderr of the moment (each test's captured output), not the one at start-up.
            "class": "core.logging.CurrentStderrHandler" if TESTING else "logging.StreamHandler",
            "formatter": LOG_FORMAT if LOG_FORMAT in ("json", "plain") else "json",
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "storeplane.request": {"level": env.str("ACCESS_LOG_LEVEL", default="INFO")},
        "axes": {"level": "WARNING"},
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Platform numbers (each is documented in .env.example).
MAX_STORES_PER_USER = env.int("MAX_STORES_PER_USER", default=5)
STORE_CREATION_COOLDOWN_SECONDS = env.int("STORE_CREATION_COOLDOWN_SECONDS", default=30)
PROVISIONING_MAX_RETRIES = env.int("PROVISIONING_MAX_RETRIES", default=3)

# --- provisioning engine (provisioning/runner, helm, kubectl, concurrency, breaker, retry) ---
# Binaries: empty means .venv/bin/<tool> next to the interpreter when present, else the tool on PATH.
HELM_BIN = env.str("HELM_BIN", default="")
KUBECTL_BIN = env.str("KUBECTL_BIN", default="")
# Passed to helm and kubectl in their environment; empty means the tools' own default (~/.kube/config).
KUBECONFIG = env.str("KUBECONFIG", default="")
# Relative paths are taken from the project directory, whatever the working directory of the process.
HELM_CHART_PATH = str(BASE_DIR / env.str("HELM_CHART_PATH", default="charts/ecommerce-store"))
HELM_VALUES_FILE = env.str("HELM_VALUES_FILE", default="values-local.yaml")
# Timeouts nest, each layer outliving the one inside it (tests assert the order):
#   helm --timeout (HELM_TIMEOUT, 300 s) < helm process timeout (+ HELM_PROCESS_GRACE_SECONDS = 360 s)
#   < Celery soft time limit of a provisioning task (420 s) < its hard time limit (480 s).
HELM_TIMEOUT = env.str("HELM_TIMEOUT", default="5m")
HELM_PROCESS_GRACE_SECONDS = env.int("HELM_PROCESS_GRACE_SECONDS", default=60)
# Read-only helm calls (status, list, history) and every kubectl API request (--request-timeout); the process
# timeout of a kubectl call is this plus 15 s.
HELM_QUERY_TIMEOUT_SECONDS = env.int("HELM_QUERY_TIMEOUT_SECONDS", default=30)
KUBECTL_REQUEST_TIMEOUT_SECONDS = env.int("KUBECTL_REQUEST_TIMEOUT_SECONDS", default=30)
PROVISIONING_TASK_SOFT_TIME_LIMIT = env.int("PROVISIONING_TASK_SOFT_TIME_LIMIT", default=900)
PROVISIONING_TASK_TIME_LIMIT = env.int("PROVISIONING_TASK_TIME_LIMIT", default=960)
# Global semaphore shared by every worker: slots, queue length, longest wait, and the lease a holder renews
# (a dead worker's slot frees itself after at most one lease).
PROVISIONING_MAX_CONCURRENT = env.int("PROVISIONING_MAX_CONCURRENT", default=3)
PROVISIONING_MAX_QUEUE = env.int("PROVISIONING_MAX_QUEUE", default=10)
PROVISIONING_QUEUE_TIMEOUT_SECONDS = env.int("PROVISIONING_QUEUE_TIMEOUT_SECONDS", default=120)
PROVISIONING_LEASE_SECONDS = env.int("PROVISIONING_LEASE_SECONDS", default=30)
# Per-store lock: expires if its holder dies, renewed while it works.
STORE_LOCK_TTL_SECONDS = env.int("STORE_LOCK_TTL_SECONDS", default=60)
# How long a deletion waits for the store's lock before it retries: a create chain the deletion superseded (an
# operator's force-delete) notices within a second or two and lets go.
STORE_LOCK_WAIT_SECONDS = env.int("STORE_LOCK_WAIT_SECONDS", default=60)
# Retries of retryable failures: full-jitter exponential backoff, delay n drawn from [0, min(max, base * 2^n)].
PROVISIONING_RETRY_BASE_SECONDS = env.float("PROVISIONING_RETRY_BASE_SECONDS", default=2.0)
PROVISIONING_RETRY_MAX_SECONDS = env.float("PROVISIONING_RETRY_MAX_SECONDS", default=60.0)
# Circuit breakers (helm, kubernetes), state in Redis shared by every worker.
CB_FAILURE_THRESHOLD = env.int("CB_FAILURE_THRESHOLD", default=5)
CB_RESET_TIMEOUT_SECONDS = env.float("CB_RESET_TIMEOUT_SECONDS", default=30)
CB_HALF_OPEN_MAX = env.int("CB_HALF_OPEN_MAX", default=1)
# --- The provisioning chain ---
# Store URLs: http(s)://<host from the store's Ingress>[:STORE_INGRESS_PORT unless 80/443]. The local cluster's
# ingress controller listens on 127.0.0.1:8080; production controllers listen on 80/443.
STORE_DOMAIN_SUFFIX = env.str("STORE_DOMAIN_SUFFIX", default=".localhost")
STORE_INGRESS_PORT = env.int("STORE_INGRESS_PORT", default=8080)
STORE_URL_SCHEME = env.str("STORE_URL_SCHEME", default="http")
# A store is ready only once it is served: its Ingress carries the controller's address (status.loadBalancer) and a
# request to the controller with the store's Host header answers 200. STORE_INGRESS_ADDRESS is where the worker
# sends that request (the controller's address as the workers reach it).
STORE_INGRESS_ADDRESS = env.str("STORE_INGRESS_ADDRESS", default="127.0.0.1")
STORE_SERVE_TIMEOUT_SECONDS = env.int("STORE_SERVE_TIMEOUT_SECONDS", default=120)
# Bounds of the steps after helm: rollout of each workload, each engine-setup exec, and waiting for a deleted
# namespace to disappear (past it the store is failed, never called deleted with resources left).
READINESS_TIMEOUT_SECONDS = env.int("READINESS_TIMEOUT_SECONDS", default=180)
ENGINE_SETUP_TIMEOUT_SECONDS = env.int("ENGINE_SETUP_TIMEOUT_SECONDS", default=180)
DELETE_VERIFY_TIMEOUT_SECONDS = env.int("DELETE_VERIFY_TIMEOUT_SECONDS", default=120)
# WordPress's path inside the wordpress container for `wp --path` (empty: the image's default).
WORDPRESS_PATH = env.str("WORDPRESS_PATH", default="")
# Celery retries of a retryable failure (cluster unreachable, timeouts) before the store is failed.
PROVISIONING_TASK_MAX_RETRIES = env.int("PROVISIONING_TASK_MAX_RETRIES", default=3)
# A store in requested/provisioning/deleting that no worker has locked for this long is recovered.
RECOVERY_GRACE_SECONDS = env.int("RECOVERY_GRACE_SECONDS", default=120)
RECOVERY_INTERVAL_SECONDS = env.int("RECOVERY_INTERVAL_SECONDS", default=120)
RECONCILE_INTERVAL_SECONDS = env.int("RECONCILE_INTERVAL_SECONDS", default=300)
# Beat sweeps the stores' backup schedules this often (backups.run_schedules).
BACKUP_SCHEDULE_SWEEP_SECONDS = env.int("BACKUP_SCHEDULE_SWEEP_SECONDS", default=300)
CELERY_BEAT_SCHEDULE = {
    "recover-stores": {"task": "provisioning.recover_stores", "schedule": RECOVERY_INTERVAL_SECONDS},
    "reconcile-stores": {"task": "provisioning.reconcile_stores", "schedule": RECONCILE_INTERVAL_SECONDS},
    "backup-schedules": {"task": "backups.run_schedules", "schedule": BACKUP_SCHEDULE_SWEEP_SECONDS},
}
# --- end provisioning engine ---

# --- backups (issue 19): S3-compatible storage; locally `rclone serve s3` started by scripts/services.sh ---
BACKUP_S3_ENDPOINT = env.str("BACKUP_S3_ENDPOINT", default="http://127.0.0.1:9300")
BACKUP_S3_BUCKET = env.str("BACKUP_S3_BUCKET", default="storeplane-backups")
BACKUP_S3_ACCESS_KEY = env.str("BACKUP_S3_ACCESS_KEY", default="storeplane-local")
BACKUP_S3_SECRET_KEY = env.str("BACKUP_S3_SECRET_KEY", default="storeplane-local-secret")
BACKUP_S3_REGION = env.str("BACKUP_S3_REGION", default="us-east-1")
# How many succeeded backups of a store are kept (older ones are removed after each new one succeeds).
BACKUP_RETENTION = env.int("BACKUP_RETENTION", default=7)
# Bound (s) on each dump/archive/load command run in a store's pods.
BACKUP_COMMAND_TIMEOUT_SECONDS = env.int("BACKUP_COMMAND_TIMEOUT_SECONDS", default=600)

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# ===============================================================================================================
# Security, limits and observability (issue 8). Every number is an environment variable listed in .env.example.
# ===============================================================================================================

# --- Client IP: X-Forwarded-For is believed only when the peer is one of these proxies (CIDRs, default none) ---
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# e.g. "HTTP_X_FORWARDED_PROTO,https" behind a TLS-terminating proxy: request.is_secure(), hence HSTS, follow it.
_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = (_ssl_header[0], _ssl_header[1]) if len(_ssl_header) == 2 else None
# Sent only on secure requests (Django's SecurityMiddleware checks request.is_secure()).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# Off by default: in the cluster the ingress redirects; kubelet probes and in-cluster scrapes stay plain HTTP.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health", r"^metrics$"]

# --- Brute force: django-axes, keyed by email + client IP, failures in the database so every process agrees ---
ACCOUNT_LOCKOUT_ATTEMPTS = env.int("ACCOUNT_LOCKOUT_ATTEMPTS", default=5)
ACCOUNT_LOCKOUT_MINUTES = env.int("ACCOUNT_LOCKOUT_MINUTES", default=15)
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = ACCOUNT_LOCKOUT_ATTEMPTS
AXES_COOLOFF_TIME = timedelta(minutes=ACCOUNT_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A refused attempt during a lockout does not extend it: retryAfterSeconds stays the time actually remaining.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "core.security.axes_client_ip"
AXES_USERNAME_CALLABLE = "core.security.axes_username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.axes_lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successes are in the audit log already; one write less per login
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "currentPassword", "newPassword", "refresh", "token"]

# --- Rate limits (django-ratelimit on the Redis cache; "count/period", period s, m, h, d with a multiplier) ---
LOGIN_RATE_LIMIT = env.str("LOGIN_RATE_LIMIT", default="10/15m")  # per client IP + email, failures only
REGISTER_RATE_LIMIT = env.str("REGISTER_RATE_LIMIT", default="5/h")  # per client IP, every attempt
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="120/m")  # per client IP, every /api/ request but these:
# kubelet probes and Prometheus scrapes come every few seconds from a handful of addresses and must never be refused.
API_RATE_LIMIT_EXEMPT_PATHS = ("/api/v1/health", "/api/v1/metrics")
RATELIMIT_USE_CACHE = "default"
RATELIMIT_CACHE_PREFIX = "rl:"

# --- Headers: CSP (django-csp), CORS for /api/ from configured origins only (django-cors-headers) ---
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Swagger UI and the admin set style attributes; scripts stay files only.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False  # bearer tokens, no cookies
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "x-request-id"]
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
]


# --- Metrics: django-prometheus (HTTP, database, cache) and core.metrics; multiprocess across web and workers ---
# Web and worker processes must share this directory (same host or volume); empty it before they start.
# A test run has its own (multiprocess mode is what production runs).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="") or (
    os.path.join(tempfile.gettempdir(), f"storeplane-metrics-test-{os.getpid()}") if TESTING else ""
)
if PROMETHEUS_MULTIPROC_DIR:
    # prometheus_client reads the variable when it is first imported, which happens after settings load.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(Path(PROMETHEUS_MULTIPROC_DIR).resolve())
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
else:
    # prometheus_client switches to multiprocess mode when the variable merely exists, and an empty value makes
    # it write its .db files into the working directory: set-but-empty means "off", so remove it.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
PROMETHEUS_EXPORT_MIGRATIONS = False
# Bearer token for GET /metrics (in-cluster scraping); unset = that route answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
