"""Prometheus metrics: what an operator watches, served at `/metrics` when
YAMLGRAPH["METRICS"] is on (needs the `[metrics]` extra: prometheus-client).

Counted where it happens (counters and histograms, in every process: web servers and
workers):

| metric | labels | what |
|---|---|---|
| yamlgraph_runs_started_total | graph, kind | starts and resumes (answers), on every door |
| yamlgraph_runs_finished_total | graph, outcome | runs that ended `interrupted`, `completed` or `failed` |
| yamlgraph_run_duration_seconds | graph, outcome | from the request to that outcome (queue time included) |
| yamlgraph_time_to_answer_seconds | graph | from a question being asked to the answer arriving |
| yamlgraph_store_errors_total | store | outages of the checkpointer or the event log |
| yamlgraph_event_log_lag_seconds | | from a run's part happening to it being readable in the log |
| yamlgraph_http_request_duration_seconds | door, method, status | requests by door: api, lg, admin, other |

Read from the database at each scrape (right whatever the number of processes):

| metric | labels | what |
|---|---|---|
| yamlgraph_questions_open | graph | sessions waiting for an answer |
| yamlgraph_questions_overdue | | open questions past their due date (with the Question model) |
| yamlgraph_oldest_question_age_seconds | | how long the longest-waiting session has waited |
| yamlgraph_runs_queued | | runs waiting for a worker |
| yamlgraph_oldest_queued_run_age_seconds | | how long the oldest of them has waited |
| yamlgraph_workers_alive | | workers seen within WORKER_STALE_SECONDS |
| yamlgraph_worker_heartbeat_age_seconds | | since the newest worker heartbeat (absent: never) |

Several processes: with PROMETHEUS_MULTIPROC_DIR set (a directory every process of the
machine shares, emptied before they start), prometheus-client's multiprocess mode adds
up the counters of all gunicorn workers and `yamlgraph worker`s of the machine, so any
one of them answers the scrape for all. Without it, each process counts its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from yamlgraph_django.conf import app_settings

logger = logging.getLogger("yamlgraph_django.metrics")

INSTALL = "pip install yamlgraph-django[metrics]"
#: Buckets of run durations and answer times: a second to a day.
LONG_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

_metrics: dict[str, Any] = {}
_lock = threading.Lock()


def enabled() -> bool:
    return bool(app_settings.METRICS)


def prometheus() -> Any:
    """The prometheus_client module, or a clear error naming the extra to install."""
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"YAMLGRAPH['METRICS'] is on but prometheus-client is not installed: {INSTALL}"
        ) from exc
    return prometheus_client


def _get() -> dict[str, Any]:
    """The process's metric objects, made once (registered in a registry of our own, so
    a project's default registry is left alone)."""
    if _metrics:
        return _metrics
    with _lock:
        if not _metrics:
            _make_metrics()
    return _metrics


def _make_metrics() -> None:
    client = prometheus()
    registry = client.CollectorRegistry(auto_describe=True)
    _metrics.update(
        registry=registry,
        started=client.Counter(
            "yamlgraph_runs_started",
            "Runs started (kind=start) and answers given (kind=resume).",
            ["graph", "kind"],
            registry=registry,
        ),
        finished=client.Counter(
            "yamlgraph_runs_finished",
            "Runs that ended, by the status they left the session in.",
            ["graph", "outcome"],
            registry=registry,
        ),
        duration=client.Histogram(
            "yamlgraph_run_duration_seconds",
            "From the run's request to its outcome (time in the queue included).",
            ["graph", "outcome"],
            buckets=LONG_BUCKETS,
            registry=registry,
        ),
        answer=client.Histogram(
            "yamlgraph_time_to_answer_seconds",
            "From a question being asked to its answer arriving.",
            ["graph"],
            buckets=LONG_BUCKETS,
            registry=registry,
        ),
        store_errors=client.Counter(
            "yamlgraph_store_errors",
            "Outages of a store, as the requests and runs met them.",
            ["store"],
            registry=registry,
        ),
        lag=client.Histogram(
            "yamlgraph_event_log_lag_seconds",
            "From a run's part happening to its write to the event log.",
            buckets=LAG_BUCKETS,
            registry=registry,
        ),
        http=client.Histogram(
            "yamlgraph_http_request_duration_seconds",
            "Time to answer a request (to its first byte for streams), by door.",
            ["door", "method", "status"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        ),
    )


_warned: list[bool] = []


def _record(action: Callable[[dict[str, Any]], Any]) -> None:
    """Run a recording when metrics are on; a metric must never break a request (a
    missing prometheus-client is the system check yamlgraph.E011, and /metrics says it)."""
    if not enabled():
        return
    try:
        action(_get())
    except ImproperlyConfigured as exc:
        if not _warned:
            _warned.append(True)
            logger.error("%s", exc)
    except Exception:
        logger.warning("could not record a metric", exc_info=True)


# --------------------------------------------------------------------------- recording


def run_started(graph: str, kind: str) -> None:
    _record(lambda m: m["started"].labels(graph=graph, kind=kind).inc())


def run_finished(graph: str, outcome: str, seconds: float | None) -> None:
    def record(m: dict[str, Any]) -> None:
        m["finished"].labels(graph=graph, outcome=outcome).inc()
        if seconds is not None:
            m["duration"].labels(graph=graph, outcome=outcome).observe(max(0.0, seconds))

    _record(record)


def answered(graph: str, seconds: float) -> None:
    _record(lambda m: m["answer"].labels(graph=graph).observe(max(0.0, seconds)))


def store_error(store: str) -> None:
    _record(lambda m: m["store_errors"].labels(store=store).inc())


def event_log_lag(seconds: float) -> None:
    _record(lambda m: m["lag"].observe(max(0.0, seconds)))


def http_request(door: str, method: str, status: int, seconds: float) -> None:
    _record(
        lambda m: m["http"].labels(door=door, method=method, status=str(status)).observe(seconds)
    )


# --------------------------------------------------------------------------- the scrape


class DatabaseCollector:
    """Gauges read from the database at each scrape: the same answer from every process."""

    def collect(self) -> Iterator[Any]:
        from django.db.models import Count, Max, Min, Q
        from django.utils import timezone
        from prometheus_client.core import GaugeMetricFamily

        from yamlgraph_django import models

        now = timezone.now()
        waiting = models.Session.objects.filter(status=models.SessionStatus.INTERRUPTED)
        open_questions = GaugeMetricFamily(
            "yamlgraph_questions_open", "Sessions waiting for an answer.", labels=["graph"]
        )
        for row in waiting.values("graph__name").annotate(n=Count("id")).order_by():
            open_questions.add_metric([row["graph__name"] or ""], row["n"])
        yield open_questions
        oldest = waiting.aggregate(oldest=Min("updated_at"))["oldest"]
        yield GaugeMetricFamily(
            "yamlgraph_oldest_question_age_seconds",
            "How long the longest-waiting session has waited for an answer.",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        question = getattr(models, "Question", None)
        if question is not None:
            yield GaugeMetricFamily(
                "yamlgraph_questions_overdue",
                "Open questions past their due date.",
                value=question.objects.filter(status="open", due_at__lte=now).count(),
            )
        queued = models.Run.objects.filter(status=models.RunStatus.QUEUED)
        summary = queued.aggregate(n=Count("id"), oldest=Min("started_at"))
        yield GaugeMetricFamily(
            "yamlgraph_runs_queued", "Runs waiting for a worker.", value=summary["n"]
        )
        yield GaugeMetricFamily(
            "yamlgraph_oldest_queued_run_age_seconds",
            "How long the oldest queued run has waited.",
            value=(now - summary["oldest"]).total_seconds() if summary["oldest"] else 0.0,
        )
        stale = now - dt.timedelta(seconds=float(app_settings.WORKER_STALE_SECONDS))
        beats = models.WorkerHeartbeat.objects.aggregate(
            alive=Count("worker_id", filter=Q(seen_at__gte=stale)), newest=Max("seen_at")
        )
        yield GaugeMetricFamily(
            "yamlgraph_workers_alive",
            "Workers whose heartbeat is fresher than WORKER_STALE_SECONDS.",
            value=beats["alive"],
        )
        seen = beats["newest"]
        if seen is not None:
            yield GaugeMetricFamily(
                "yamlgraph_worker_heartbeat_age_seconds",
                "Seconds since the newest worker heartbeat.",
                value=(now - seen).total_seconds(),
            )


def exposition() -> tuple[bytes, str]:
    """The scrape's body and content type: this process's (or, in multiprocess mode,
    this machine's) counters, plus the database gauges."""
    client = prometheus()
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = client.CollectorRegistry()
        registry.register(_Forward(_get()["registry"]))
    registry.register(DatabaseCollector())
    return client.generate_latest(registry), client.CONTENT_TYPE_LATEST


class _Forward:
    """Another registry's metrics, collected into the scrape's registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: 404 unless YAMLGRAPH["METRICS"]; with METRICS_TOKEN, only for
    `Authorization: Bearer <token>`."""
    from django.http import Http404

    if not enabled():
        raise Http404("metrics are off (YAMLGRAPH['METRICS'])")
    token = app_settings.METRICS_TOKEN
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        return HttpResponse(
            "metrics need the bearer token\n", status=401, content_type="text/plain"
        )
    try:
        body, content_type = exposition()
    except ImproperlyConfigured as exc:  # the [metrics] extra is missing: say which
        return HttpResponse(f"{exc}\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=content_type)


# --------------------------------------------------------------------------- HTTP timing


DOORS = {"yamlgraph_api": "api", "yamlgraph_protocol": "lg", "admin": "admin"}


def door_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    for namespace in getattr(match, "namespaces", None) or ():
        if namespace in DOORS:
            return DOORS[namespace]
    return "other"


class MetricsMiddleware:
    """Times every request by door (api, lg, admin, other): add
    "yamlgraph_django.metrics.MetricsMiddleware" to MIDDLEWARE (first)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        if request.path != "/metrics":
            http_request(
                door_of(request),
                request.method or "",
                response.status_code,
                time.perf_counter() - started,
            )
        return response


# --------------------------------------------------------------------------- signals


def connect() -> None:
    """Hear runs start and sessions reach an outcome (apps.ready)."""
    from django.db.models.signals import post_save

    from yamlgraph_django.models import Run
    from yamlgraph_django.signals import SIGNALS

    post_save.connect(_on_run_saved, sender=Run, dispatch_uid="yamlgraph_metrics_run")
    for outcome, signal in SIGNALS.items():
        signal.connect(
            _outcome_receiver(outcome), weak=False, dispatch_uid=f"yamlgraph_metrics_{outcome}"
        )


def _on_run_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created or not enabled() or instance.kind not in ("start", "resume"):
        return
    from yamlgraph_django.models import Run

    session = instance.session
    graph = session.graph.name if session.graph_id else ""
    run_started(graph, instance.kind)
    if instance.kind == "resume":
        asked = (
            Run.objects.filter(session=session.pk, id__lt=instance.pk, finished_at__isnull=False)
            .order_by("-id")
            .values_list("finished_at", flat=True)
            .first()
        )
        if asked is not None:
            answered(graph, (instance.started_at - asked).total_seconds())


def _outcome_receiver(outcome: str) -> Callable[..., None]:
    def receive(sender: Any, session: Any, **kwargs: Any) -> None:
        if not enabled():
            return
        from django.utils import timezone

        from yamlgraph_django.models import Run, RunKind

        started = (
            Run.objects.filter(session=session.pk, kind__in=(RunKind.START, RunKind.RESUME))
            .order_by("-id")
            .values_list("started_at", flat=True)
            .first()
        )
        seconds = (timezone.now() - started).total_seconds() if started else None
        graph = session.graph.name if session.graph_id else ""
        run_finished(graph, outcome, seconds)

    return receive
