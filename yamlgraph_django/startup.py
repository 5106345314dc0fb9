"""What `runserver` says at startup about workers: background runs (`"background":
true`, RUN_MODE "background", /lg/ `runs.create`) wait until a worker takes them, and a
development setup with only `runserver` has none. So, once the server is up, it prints
how to start one when no worker is alive."""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

#: Seconds after startup before it looks (the tables and the first heartbeat settle).
DELAY_SECONDS = 2.0

HINT = (
    'yamlgraph: no worker is running. Background runs ("background": true, RUN_MODE '
    '"background", LangGraph runs.create) wait in the queue until one starts; in '
    "another shell run:\n\n    python manage.py yamlgraph worker\n"
)


def is_runserver(argv: list[str]) -> bool:
    """The serving process of `manage.py runserver` (the autoreloader's child, or the
    only process with --noreload)."""
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return os.environ.get("RUN_MAIN") == "true" or "--noreload" in argv


def say_when_no_worker(out: TextIO | None = None, delay: float = DELAY_SECONDS) -> threading.Thread:
    """Print HINT after `delay` seconds unless a worker is alive (or the task backend
    runs tasks in the process). Never raises: a hint must not stop the server."""

    def look() -> None:
        from django.db import connections

        try:
            from yamlgraph_django.services.workers import worker_alive, workers_required

            if workers_required() and not worker_alive(fresh=True):
                (out or sys.stderr).write(HINT)
        except Exception:  # no tables before migrate: runserver says so itself
            pass
        finally:
            connections.close_all()

    timer = threading.Timer(delay, look)
    timer.daemon = True
    timer.start()
    return timer
