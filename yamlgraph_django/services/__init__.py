"""The session service: the one place that runs graphs and touches checkpointers.

The admin, the API, the management command, the protocol and the background task call
these functions; none of them calls LangGraph directly. All are synchronous and raise
the typed errors of `yamlgraph_django.exceptions`. A session argument may be a `Session`
(used as read: its revision binds an answer to the question read) or its id.

    session = start_session("interview", {"topic": "Django"}, owner=request.user)
    session = resume_session(session, "Ada", actor=request.user, channel="api")
    get_state(session)     # {"values", "next", "interrupts", "checkpoint_id", "created_at"}
    get_history(session)   # checkpoints, newest first
    cancel_session(session, actor=request.user, channel="admin")
    delete_session(session)  # rows and checkpoints
    recover_stale_sessions()
    prune_expired(older_than=timedelta(days=30))

Modules, by what they talk to: `stores` (savers, compiled graphs, outages), `snapshots`
(shaping checkpoints), `validation` (what callers give), `planning` (what a resume
invokes), `engine` (the one claim-run-record path of every door, and the background
task), `lifecycle` (start/resume/cancel), `thread_runs` (protocol run requests), `state` (reading), `maintenance` (delete, prune, recover),
`webhooks` and `notifications` (what follows a session's interruption or end),
`url_policy` (where a webhook may point), `workers` (heartbeats: is a worker alive?),
`health` (is each store answering?), `questions` (who may answer; the Question rows),
`inbox` (claim, release, hand on; statistics), `question_notices` (e-mail, signals and
webhook events of questions) and `deadlines` (reminders and timeouts on the worker). Row
changes are `Session.objects` methods (`yamlgraph_django.managers`).
"""

from yamlgraph_django.events import InvalidEventId
from yamlgraph_django.services import engine, health, thread_runs, threads, workers
from yamlgraph_django.services.lifecycle import cancel_session, resume_session, start_session
from yamlgraph_django.services.maintenance import (
    CRASH_ERROR,
    Sweeper,
    delete_session,
    due_sessions,
    prune_expired,
    recover_stale_sessions,
    worker_command,
)
from yamlgraph_django.services.run_events import Follower, latest_event_id
from yamlgraph_django.services.state import get_history, get_state
from yamlgraph_django.services.stores import checkpointer_type, graph_config
from yamlgraph_django.services.validation import MISSING, json_type_word, validate_metadata
from yamlgraph_django.services.webhooks import validate_webhook

__all__ = [
    "CRASH_ERROR",
    "Follower",
    "InvalidEventId",
    "MISSING",
    "cancel_session",
    "checkpointer_type",
    "delete_session",
    "due_sessions",
    "get_history",
    "get_state",
    "graph_config",
    "health",
    "json_type_word",
    "latest_event_id",
    "prune_expired",
    "recover_stale_sessions",
    "resume_session",
    "engine",
    "start_session",
    "Sweeper",
    "worker_command",
    "thread_runs",
    "threads",
    "validate_metadata",
    "validate_webhook",
    "workers",
]
