"""Settings of the reference project: SQLite and no servers by default.

`DATABASE_URL` switches the metadata database (CI points it at Postgres);
`YAMLGRAPH_CHECKPOINTER_URL` (redis://... or postgres://...) makes every graph keep its
checkpoints there, which is what several app servers behind a load balancer need.
"""

import importlib.util
import os
from pathlib import Path

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-local-demo-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "yamlgraph_django",
    "project",
]

# Background runs ("background": true, RUN_MODE "background", LangGraph `runs.create`)
# go through Django's Tasks framework (built into Django 6, the `django_tasks` backport
# on 5.2) to a real worker: django-tasks-db's ORM queue by default (`manage.py yamlgraph
# worker` runs `db_worker` and the crash sweeper), RQ on Redis with
# YAMLGRAPH_TASKS_URL=redis://... (the worker is then `manage.py yamlgraph worker` too,
# which starts `rqworker`). Nothing else changes between the two.
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
INSTALLED_APPS.append("django_tasks_db")
if _tasks_url := os.environ.get("YAMLGRAPH_TASKS_URL"):
    if importlib.util.find_spec("django_rq") is None:  # say which extra, not "No module"
        raise ImproperlyConfigured(
            'YAMLGRAPH_TASKS_URL (RQ) needs the rq extra: pip install "yamlgraph-django[rq]"'
        )
    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": _tasks_url}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

MIDDLEWARE = [
    # Times requests by door for /metrics (does nothing unless YAMLGRAPH["METRICS"]).
    "yamlgraph_django.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

# An empty DATABASE_URL means "not set" (the local SQLite file), as in most tools.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent connections (SQLite too): a request reuses its worker's connection
        # instead of reopening it (2-3 ms with the WAL init command below); the health
        # check replaces one that broke while idle before a request uses it.
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
if _test_db := os.environ.get("DJANGO_TEST_DB_NAME"):  # parallel test runs on one server
    DATABASES["default"]["TEST"] = {"NAME": _test_db}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers (admin pages, API lists) proceed while a session run writes, and
    # synchronous=NORMAL is WAL's safe setting: each commit no longer waits for an fsync.
    # IMMEDIATE: a transaction takes the write lock when it begins, so one that reads
    # first waits for another writer (timeout) instead of failing with "database is
    # locked" when it tries to write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"
LOGIN_URL = "/admin/login/"

# Log lines say which session and run they are about (yamlgraph_django.logging_context).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "runs": {
            "format": "%(asctime)s %(levelname)s %(name)s [session=%(session_id)s "
            "run=%(run_id)s] %(message)s"
        }
    },
    "filters": {"runs": {"()": "yamlgraph_django.logging_context.ContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "runs", "filters": ["runs"]}
    },
    "loggers": {
        "yamlgraph_django": {
            "handlers": ["console"],
            "level": os.environ.get("YAMLGRAPH_LOG_LEVEL", "WARNING"),
        }
    },
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "yamlgraph-django API",
    "DESCRIPTION": "Start, inspect, answer and resume human-in-the-loop YAML graph sessions.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Sessions and questions both have a `status`: each enum keeps its own name.
    "ENUM_NAME_OVERRIDES": {
        "SessionStatusEnum": "yamlgraph_django.models.SessionStatus",
        "QuestionStatusEnum": "yamlgraph_django.question_status.QuestionStatus",
    },
}

# CORS for browser clients of the LangGraph protocol (useStream, agent-chat-ui without its
# proxy), on /lg/ only. DJANGO_CORS_ALLOWED_ORIGINS lists origins, comma-separated; the
# default is agent-chat-ui's dev server.
CORS_URLS_REGEX = r"^/lg/.*$"
CORS_ALLOWED_ORIGINS = [
    origin
    for origin in os.environ.get(
        "DJANGO_CORS_ALLOWED_ORIGINS", "http://localhost:3000,http://127.0.0.1:3000"
    ).split(",")
    if origin
]
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "last-event-id",
    "user-agent",
    "x-api-key",
    "x-requested-with",
)
CORS_EXPOSE_HEADERS = ("content-location", "location", "x-pagination-total", "x-pagination-next")

YAMLGRAPH = {
    # YAMLGRAPH_GRAPH_DIRS (os.pathsep-separated) adds directories of graph files.
    "GRAPH_DIRS": [
        BASE_DIR / "graphs",
        *(Path(p) for p in os.environ.get("YAMLGRAPH_GRAPH_DIRS", "").split(os.pathsep) if p),
    ],
    "LEASE_SECONDS": float(os.environ.get("YAMLGRAPH_LEASE_SECONDS", "300")),
    # Workers' heartbeats: how often they write one, after how long one counts as dead.
    "WORKER_HEARTBEAT_SECONDS": float(os.environ.get("YAMLGRAPH_WORKER_HEARTBEAT_SECONDS", "10")),
    "WORKER_STALE_SECONDS": float(os.environ.get("YAMLGRAPH_WORKER_STALE_SECONDS", "60")),
    "RUN_MODE": os.environ.get("YAMLGRAPH_RUN_MODE", "sync"),
    "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": str(BASE_DIR / "checkpoints.sqlite3")},
    # The event log of live runs: a database table here, Redis Streams with a URL.
    "EVENTS_URL": os.environ.get("YAMLGRAPH_EVENTS_URL") or None,
    "WEBHOOK_SECRET": os.environ.get("YAMLGRAPH_WEBHOOK_SECRET", ""),
    # How often a worker looks for due crons (scheduled runs).
    "CRON_POLL_SECONDS": float(os.environ.get("YAMLGRAPH_CRON_POLL_SECONDS", "10")),
    # Webhooks to loopback/private addresses (a receiver on this machine): off by default.
    "WEBHOOK_ALLOW_PRIVATE": os.environ.get("YAMLGRAPH_WEBHOOK_ALLOW_PRIVATE") == "1",
    # http:// webhooks: only with DEBUG, unless YAMLGRAPH_WEBHOOK_REQUIRE_HTTPS=0 allows them.
    "WEBHOOK_REQUIRE_HTTPS": False
    if os.environ.get("YAMLGRAPH_WEBHOOK_REQUIRE_HTTPS") == "0"
    else None,
    # Prometheus /metrics (pip install yamlgraph-django[metrics]).
    "METRICS": os.environ.get("YAMLGRAPH_METRICS") == "1",
    # The base of the answer links in question e-mails.
    "SITE_URL": os.environ.get("YAMLGRAPH_SITE_URL", "http://127.0.0.1:8000"),
}

# E-mail (question assignments, reminders, hand-ons): SMTP at DJANGO_EMAIL_HOST:
# DJANGO_EMAIL_PORT; without a host, e-mails are printed on the console.
if _email_host := os.environ.get("DJANGO_EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email_host
    EMAIL_PORT = int(os.environ.get("DJANGO_EMAIL_PORT", "25"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "yamlgraph@localhost")

_CHECKPOINTER_SCHEMES = {
    "redis": "redis",
    "rediss": "redis",
    "postgres": "postgres",
    "postgresql": "postgres",
}
if _checkpointer_url := os.environ.get("YAMLGRAPH_CHECKPOINTER_URL"):
    _scheme, _, _rest = _checkpointer_url.partition("://")
    _scheme = _scheme.lower()
    if _scheme != "sqlite" and _scheme not in _CHECKPOINTER_SCHEMES:
        raise ValueError(
            "YAMLGRAPH_CHECKPOINTER_URL must start with sqlite:///, redis://, rediss://, "
            f"postgres:// or postgresql://, not {_scheme + '://'!r}"
        )
    # Referenced as ${VAR}, expanded when the saver is built: the password then never
    # shows up in settings dumps or on the debug page.
    if _scheme == "sqlite":  # as DATABASE_URL: sqlite:///relative.db, sqlite:////absolute.db
        YAMLGRAPH["CHECKPOINTER_OVERRIDE"] = {"type": "sqlite", "path": _rest[1:] or _rest}
    else:
        YAMLGRAPH["CHECKPOINTER_OVERRIDE"] = {
            "type": _CHECKPOINTER_SCHEMES[_scheme],
            "url": "${YAMLGRAPH_CHECKPOINTER_URL}",
        }
