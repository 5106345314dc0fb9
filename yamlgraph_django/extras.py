"""Optional parts and the extras that install them, checked at use and by `manage.py check`.

`pip install yamlgraph-django` is the core (SQLite checkpoints, the database event log
and task queue). Redis, Postgres, RQ, the production servers and metrics are extras; a
setting that asks for one that is not installed is an ImproperlyConfigured at use and a
system check error (yamlgraph.E007), both naming the line that installs it:
``pip install "yamlgraph-django[redis]"``.

The checkpointer types report their own missing packages (yamlgraph.storage's
MissingPackage); this module covers the event log (EVENTS_URL) and the task backend
(TASKS).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from yamlgraph.storage._config import module_installed, pip_line

#: Task backends of other packages -> (the modules they need, the extra that brings them).
TASK_BACKENDS: dict[str, tuple[tuple[str, ...], str]] = {
    "django_tasks_rq": (("django_tasks_rq", "django_rq", "rq", "redis"), "rq"),
}
#: What the Redis event log needs.
REDIS_EVENT_LOG: tuple[tuple[str, ...], str] = (("redis",), "redis")


class MissingExtra(ImproperlyConfigured):
    """A setting asks for an optional part whose extra is not installed."""

    def __init__(self, what: str, extra: str, modules: Iterable[str]) -> None:
        self.extra = extra
        self.modules = tuple(modules)
        missing = ", ".join(m for m in self.modules if not module_installed(m))
        super().__init__(f"{what} needs {missing}, which is not installed: {pip_line(extra)}")


def require(what: str, modules: Iterable[str], extra: str) -> None:
    """Raise MissingExtra unless every one of `modules` is installed (found, not imported)."""
    modules = tuple(modules)
    if not all(module_installed(m) for m in modules):
        raise MissingExtra(what, extra, modules)


def require_redis_event_log() -> None:
    """The Redis Streams event log (EVENTS_URL=redis://...) needs the [redis] extra."""
    require("YAMLGRAPH['EVENTS_URL'] (the Redis event log)", *REDIS_EVENT_LOG)


def _task_backend_problems() -> list[MissingExtra]:
    problems: list[MissingExtra] = []
    for alias, config in (getattr(settings, "TASKS", None) or {}).items():
        backend = str((config or {}).get("BACKEND", ""))
        need = TASK_BACKENDS.get(backend.partition(".")[0])
        if need is None:
            continue
        try:
            require(f"TASKS[{alias!r}] ({backend})", *need)
        except MissingExtra as exc:
            problems.append(exc)
    return problems


def require_task_backends() -> None:
    """Raise MissingExtra for the first TASKS backend whose extra is not installed."""
    problems = _task_backend_problems()
    if problems:
        raise problems[0]


def _is_redis_url(url: Any) -> bool:
    return bool(url) and str(url).partition("://")[0].lower() in ("redis", "rediss", "unix")


def missing_extras() -> list[MissingExtra]:
    """Each optional part the settings ask for whose extra is not installed."""
    from yamlgraph_django.conf import app_settings

    problems: list[MissingExtra] = []
    if _is_redis_url(app_settings.EVENTS_URL):
        try:
            require_redis_event_log()
        except MissingExtra as exc:
            problems.append(exc)
    return problems + _task_backend_problems()


@register("yamlgraph")
def check_extras(app_configs: Iterable[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E007: the event log or task backend the settings name needs an extra not installed."""
    if app_configs is not None and not any(c.name == "yamlgraph_django" for c in app_configs):
        return []
    return [
        Error(
            str(problem),
            hint=f"Install it ({pip_line(problem.extra)}), or change the setting.",
            obj="settings",
            id="yamlgraph.E007",
        )
        for problem in missing_extras()
    ]
