"""System checks of running it in production: webhooks, workers and unsafe settings.

| id | level | what |
|---|---|---|
| yamlgraph.E010 | error | WEBHOOK_SECRET is empty while sessions have webhooks (their calls would go unsigned) |
| yamlgraph.E011 | error | METRICS is on and prometheus-client is not installed (names the pip line) |
| yamlgraph.W017 | warning | deploy: /metrics is served without METRICS_TOKEN |
| yamlgraph.W018 | warning | deploy: CORS lets http:// origins in while DEBUG is off |
| yamlgraph.W010 | warning | deploy: runs are queued and no worker has been seen for WORKER_STALE_SECONDS |
| yamlgraph.W011 | warning | deploy: ALLOW_ANONYMOUS opens the API to callers without a login |
| yamlgraph.W012 | warning | deploy: WEBHOOK_ALLOW_PRIVATE lets webhooks reach loopback/private addresses |
| yamlgraph.W013 | warning | deploy: start/resume throttles are off |
| yamlgraph.W014 | warning | deploy: CORS lets every origin in |
| yamlgraph.W015 | warning | deploy: webhooks may use http:// (WEBHOOK_REQUIRE_HTTPS is False) |
| yamlgraph.W016 | warning | deploy: WEBHOOK_SECRET is empty (webhook URLs in requests are refused) |

E010 reads the database only when the command gives it databases to check (`migrate`,
`check --database default`), and says nothing when the table does not exist yet.
Django's own `check --deploy` findings (DEBUG, SECRET_KEY, ALLOWED_HOSTS, HTTPS
cookies and headers) come on top of these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from yamlgraph_django.conf import app_settings

TAG = "yamlgraph"


def _ours(app_configs: Iterable[Any] | None) -> bool:
    return app_configs is None or any(c.name == "yamlgraph_django" for c in app_configs)


@register(TAG)
def check_webhook_secret(
    app_configs: Iterable[Any] | None = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """E010: sessions with webhooks while WEBHOOK_SECRET is empty."""
    if not _ours(app_configs) or app_settings.WEBHOOK_SECRET or not databases:
        return []
    try:
        from yamlgraph_django.models import Session

        count = Session.objects.exclude(webhook="").count()
    except Exception:  # no table yet (before migrate), or no database: nothing to say
        return []
    if not count:
        return []
    return [
        Error(
            f"WEBHOOK_SECRET is empty while {count} session(s) have a webhook: their calls "
            "would be unsigned, and a receiver could not tell them from a forgery",
            hint="Set YAMLGRAPH['WEBHOOK_SECRET'] (the reference project reads "
            "YAMLGRAPH_WEBHOOK_SECRET) to a long random string shared with the receivers.",
            obj="YAMLGRAPH['WEBHOOK_SECRET']",
            id="yamlgraph.E010",
        )
    ]


@register(TAG)
def check_metrics_package(
    app_configs: Iterable[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E011: metrics are on but their package is missing."""
    if not _ours(app_configs) or not app_settings.METRICS:
        return []
    from django.core.exceptions import ImproperlyConfigured

    from yamlgraph_django import metrics

    try:
        metrics.prometheus()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint=f"{metrics.INSTALL}, or turn YAMLGRAPH['METRICS'] off.",
                obj="YAMLGRAPH['METRICS']",
                id="yamlgraph.E011",
            )
        ]
    return []


@register(TAG, deploy=True)
def check_workers(app_configs: Iterable[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """W010 (deploy): runs wait in the queue and no worker is alive to take them."""
    if not _ours(app_configs):
        return []
    try:
        from yamlgraph_django.services.workers import stranded_runs

        count, oldest = stranded_runs()
    except Exception:  # no table yet, or the database is down (Django reports that)
        return []
    if not count or oldest is None:
        return []
    return [
        Warning(
            f"{count} run(s) queued since {oldest.isoformat(timespec='seconds')} and no "
            f"worker has been seen for {app_settings.WORKER_STALE_SECONDS} s: they wait "
            "until one starts",
            hint="Start one (or more) with `manage.py yamlgraph worker`, beside the web "
            "server, under the same settings.",
            obj="manage.py yamlgraph worker",
            id="yamlgraph.W010",
        )
    ]


@register(TAG, deploy=True)
def check_unsafe_settings(
    app_configs: Iterable[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W011-W016 (deploy): each setting that makes a production deployment unsafe."""
    if not _ours(app_configs):
        return []
    messages: list[CheckMessage] = []

    def warn(message: str, hint: str, obj: str, number: int) -> None:
        messages.append(Warning(message, hint=hint, obj=obj, id=f"yamlgraph.W{number:03d}"))

    if app_settings.ALLOW_ANONYMOUS:
        warn(
            "ALLOW_ANONYMOUS is on: anyone can start and answer sessions without a login",
            "Set YAMLGRAPH['ALLOW_ANONYMOUS'] = False unless the site is private.",
            "YAMLGRAPH['ALLOW_ANONYMOUS']",
            11,
        )
    if app_settings.WEBHOOK_ALLOW_PRIVATE:
        warn(
            "WEBHOOK_ALLOW_PRIVATE is on: any API user can make the server POST to "
            "loopback and private addresses (its own database, Redis, metadata services)",
            "Turn it off, and list the receivers' hosts in WEBHOOK_ALLOWED_HOSTS instead.",
            "YAMLGRAPH['WEBHOOK_ALLOW_PRIVATE']",
            12,
        )
    rates = app_settings.THROTTLE_RATES or {}
    off = [scope for scope in ("start", "resume") if not rates.get(scope)]
    if off:
        warn(
            f"no request rate limit on {' and '.join(off)}: one user can flood the workers",
            "Set YAMLGRAPH['THROTTLE_RATES'], e.g. {'start': '120/min', 'resume': '240/min'}.",
            "YAMLGRAPH['THROTTLE_RATES']",
            13,
        )
    if getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False) or getattr(
        settings, "CORS_ORIGIN_ALLOW_ALL", False
    ):
        warn(
            "CORS lets every origin in: any web page can call /lg/ with a user's token",
            "List the origins of your clients in CORS_ALLOWED_ORIGINS.",
            "CORS_ALLOW_ALL_ORIGINS",
            14,
        )
    plain = [
        origin
        for origin in getattr(settings, "CORS_ALLOWED_ORIGINS", None) or ()
        if str(origin).startswith("http://")
    ]
    if plain and not settings.DEBUG:
        warn(
            f"CORS lets unencrypted origins in: {', '.join(plain)} (development servers?)",
            "List only your clients' https:// origins in CORS_ALLOWED_ORIGINS (the "
            "reference project: DJANGO_CORS_ALLOWED_ORIGINS).",
            "CORS_ALLOWED_ORIGINS",
            18,
        )
    if app_settings.WEBHOOK_REQUIRE_HTTPS is False:
        warn(
            "webhooks may use http://: session data travels unencrypted",
            "Leave YAMLGRAPH['WEBHOOK_REQUIRE_HTTPS'] unset (https whenever DEBUG is off).",
            "YAMLGRAPH['WEBHOOK_REQUIRE_HTTPS']",
            15,
        )
    if app_settings.METRICS and not app_settings.METRICS_TOKEN:
        warn(
            "/metrics is served to anyone who can reach it (graph names, load, queue sizes)",
            "Set YAMLGRAPH['METRICS_TOKEN'] (Prometheus: `authorization: {credentials: ...}`), "
            "or keep /metrics off the public network.",
            "YAMLGRAPH['METRICS_TOKEN']",
            17,
        )
    if not app_settings.WEBHOOK_SECRET:
        warn(
            "WEBHOOK_SECRET is empty: webhook URLs given in requests are refused",
            "Set YAMLGRAPH['WEBHOOK_SECRET'] to a long random string if clients use webhooks.",
            "YAMLGRAPH['WEBHOOK_SECRET']",
            16,
        )
    return messages
