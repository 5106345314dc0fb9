"""The session service: the one place that runs graphs and touches checkpointers.

The admin, the API, the management command and the background task all call these
functions; none of them calls LangGraph directly. All are synchronous and raise the
typed errors of `yamlgraph_django.exceptions`. A session argument may be a `Session`
(refreshed in place) or its id.

    session = start_session("interview", {"topic": "Django"}, owner=request.user)
    session = resume_session(session, "Ada", actor=request.user, channel="api")
    get_state(session)     # {"values", "next", "interrupts", "checkpoint_id", "created_at"}
    get_history(session)   # checkpoints, newest first
    cancel_session(session, actor=request.user, channel="admin")
    delete_session(session)  # rows and checkpoints
    recover_stale_sessions()
    prune_expired(older_than=timedelta(days=30))

`validate_metadata` and `json_type_word` are the checks `start_session` applies, for
callers (the API's serializers) that validate a request body before calling it.
"""

# The LangGraph protocol's thread operations (create before a first run, update_state,
# copy, search) and thread runs (stream a run), as namespaces:
# `services.threads.create_thread(...)`, `services.thread_runs.prepare_run(...)`.
from yamlgraph_django.services import thread_runs, threads
from yamlgraph_django.services._common import MISSING
from yamlgraph_django.services._validation import json_type_word, validate_metadata
from yamlgraph_django.services.maintenance import (
    CRASH_ERROR,
    delete_session,
    prune_expired,
    recover_stale_sessions,
)
from yamlgraph_django.services.runs import (
    cancel_session,
    resume_session,
    run_queued,
    start_session,
)
from yamlgraph_django.services.state import get_history, get_state

__all__ = [
    "CRASH_ERROR",
    "MISSING",
    "cancel_session",
    "delete_session",
    "get_history",
    "get_state",
    "json_type_word",
    "prune_expired",
    "recover_stale_sessions",
    "resume_session",
    "run_queued",
    "start_session",
    "thread_runs",
    "threads",
    "validate_metadata",
]
