"""Background runs: the Django Task a worker executes for `RUN_MODE = "background"`.

Django 6 ships the Tasks framework as `django.tasks`; on Django 5.2 the `django-tasks`
backport provides the same API. Which backend runs the task is the project's TASKS
setting: the immediate backend runs it in process, a database/RQ/Celery backend on a
worker machine. The task only carries ids and a JSON plan; the service does the work.
"""

from __future__ import annotations

from typing import Any

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task


@task()
def run_session(session_id: str, run_id: int, plan: dict[str, Any]) -> str:
    """Run a queued start or resume of a session; returns the session's status afterwards."""
    from yamlgraph_django.services import run_queued

    return run_queued(session_id, run_id, plan)
