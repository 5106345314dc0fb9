"""The YAMLGRAPH settings dict, read like DRF's api_settings.

    from yamlgraph_django.conf import app_settings
    app_settings.GRAPH_DIRS

Defaults fill what the project leaves out; dotted paths are imported on access; the
cache is dropped on `setting_changed`, so `override_settings(YAMLGRAPH=...)` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

SETTING_NAME = "YAMLGRAPH"

DEFAULTS: dict[str, Any] = {
    "GRAPH_DIRS": [],
    "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": "checkpoints.sqlite3"},
    "CHECKPOINTER_OVERRIDE": None,
    "SESSION_TTL_MINUTES": None,
    "RUN_MODE": "sync",
    "LLM_FACTORY": None,
    # `type: websearch` tools: a dotted path (or callable) search(query, *, max_results,
    # provider); resolved when a tool searches, so graphs always load (yamlgraph.websearch).
    "WEBSEARCH_FUNCTION": None,
    "SESSION_ACCESS": "yamlgraph_django.permissions.owner_or_staff",
    # The rulebook: policy classes (dotted paths, all must allow) that decide who may
    # view, start, answer, update state, cancel and delete sessions (services.rules).
    "RULES": ["yamlgraph_django.services.rules.SessionRules"],
    "LEASE_SECONDS": 300,
    "SYNC_ON_STARTUP": True,
    "ALLOW_ANONYMOUS": False,
    "MAX_REQUEST_BYTES": 256 * 1024,
    # DRF tokens found are kept this long per process (at most TOKEN_CACHE_SIZE of them),
    # so a request does not read its token and user again; saving or deleting a token or
    # its user drops the entry at once in this process (other processes: within the TTL).
    # 0 turns the cache off.
    "TOKEN_CACHE_SECONDS": 30,
    "TOKEN_CACHE_SIZE": 1024,
    # Threads of yamlgraph_django.asgi's handler, which runs a sync request's middleware
    # and view in one hop (None: min(32, CPUs + 4), asyncio's default).
    "ASGI_THREADS": None,
    # Event log of runs: None keeps it in the database (SessionEvent), a redis:// URL
    # in Redis Streams. Streams send a heartbeat comment every HEARTBEAT seconds.
    "EVENTS_URL": None,
    "EVENTS_HEARTBEAT_SECONDS": 5,
    # A run's parts are written at most this long after they happen (one write per
    # batch; a run shorter than this writes its events once).
    "EVENTS_FLUSH_SECONDS": 0.1,
    # Webhooks: POSTed with an X-Yamlgraph-Signature HMAC-SHA256 of the body.
    "WEBHOOK_SECRET": "",
    "WEBHOOK_RETRIES": 5,
    "WEBHOOK_BACKOFF_SECONDS": 2.0,
    "WEBHOOK_TIMEOUT_SECONDS": 5.0,
    # Modules of the project's own node types (each registers its types on import).
    "NODE_TYPES": [],
    # LangGraph's store (/lg/store/*, python tools' `store`): None = the database
    # (StoreItem); {"type": "postgres"|"redis", "url": ..., "ttl": {...}} = LangGraph's.
    "STORE": None,
    "STORE_ACCESS": "yamlgraph_django.services.store.own_namespace_or_staff",
    # Scheduled runs (crons): how often the worker looks for due ones.
    "CRON_POLL_SECONDS": 10,
    # Webhook URL policy: None lets any public host in; a list of host names only those
    # ("*.example.com": its subdomains). Loopback, private and link-local addresses are
    # refused unless WEBHOOK_ALLOW_PRIVATE; https is required unless DEBUG (or
    # WEBHOOK_REQUIRE_HTTPS says otherwise).
    "WEBHOOK_ALLOWED_HOSTS": None,
    "WEBHOOK_ALLOW_PRIVATE": False,
    "WEBHOOK_REQUIRE_HTTPS": None,
    # Workers write a heartbeat this often; one not seen for STALE seconds is presumed
    # dead. With WORKER_REQUIRED the health check is down while no worker is alive
    # (None: required unless the TASKS backend runs tasks in the process, "immediate").
    "WORKER_HEARTBEAT_SECONDS": 10,
    "WORKER_STALE_SECONDS": 60,
    "WORKER_REQUIRED": None,
    # How long a join or a wait holds a request for a queued or running run before it
    # answers the run's status (below gunicorn's default 30 s timeout).
    "WAIT_SECONDS": 25,
    # Per-user request rates of start and resume (API and /lg/ runs), DRF's syntax
    # ("60/min"); None turns one off.
    "THROTTLE_RATES": {"start": "120/min", "resume": "240/min"},
    # Prometheus /metrics (needs the [metrics] extra: prometheus-client); with a token,
    # scrapes must send `Authorization: Bearer <token>`.
    "METRICS": False,
    "METRICS_TOKEN": "",
    # Health check: how long each store may take to answer.
    "HEALTH_TIMEOUT_SECONDS": 3.0,
    # Questions (assigned interrupts): e-mail assignees when a question is assigned,
    # due soon or handed on; From address (None: DEFAULT_FROM_EMAIL); the site's base
    # URL for the link to the answer page in those e-mails.
    "QUESTION_EMAILS": True,
    "QUESTION_EMAIL_FROM": None,
    "SITE_URL": "http://localhost:8000",
}

IMPORT_STRINGS = {"LLM_FACTORY", "SESSION_ACCESS"}


class AppSettings:
    """Attribute access to YAMLGRAPH with defaults; unknown names are an AttributeError."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(settings, SETTING_NAME, {}) or {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: '{name}'")
        if name in self._cache:
            return self._cache[name]
        value = self.user_settings.get(name, DEFAULTS[name])
        if name in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        self._cache[name] = value
        return value

    def reload(self) -> None:
        self._cache.clear()


app_settings = AppSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    """Drop this module's cache only; modules with caches of their own connect their own
    receivers (services.stores, registry), as DRF's settings leave it to each module."""
    if setting == SETTING_NAME:
        app_settings.reload()


setting_changed.connect(_reload)
