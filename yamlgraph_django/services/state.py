"""Reading a session's checkpoints: its current state and its history.

Checkpoints hold the truth about a session's values (the rows cache status, pending
questions and final output), so the admin and the API read them here.
"""

from __future__ import annotations

from typing import Any

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.models import Session
from yamlgraph_django.services import rules
from yamlgraph_django.services.snapshots import (
    checkpoint_id_of,
    history_entry,
    node_names,
    state_of,
    thread_config,
)
from yamlgraph_django.services.stores import get_app, graph_config, store_errors

MAX_HISTORY = 1000


def get_state(session: Session | Any, *, actor: Any = None) -> dict[str, Any]:
    """The session's current checkpoint: {values, next, interrupts, checkpoint_id, created_at}.

    `values` are the public state values; `next` the nodes that run on resume;
    `interrupts` the pending questions [{id, value}]. A session with no checkpoint yet
    (queued in the background) has empty values and None ids. A session just run by the
    service carries the state its run ended in, which is returned without a new read
    (and without asking the rulebook again: the run was the caller's).
    Raises SessionNotFound, CheckpointerUnavailable.
    """
    known = getattr(session, "live_state", None)
    if known is not None:
        # The state the caller's own run ended in (authorized when it was asked for):
        # an assignee who just answered sees the outcome, though the session is no
        # longer theirs to see.
        return known
    session = Session.objects.resolve(session)
    rules.authorize_view(actor, session)
    app = get_app(session.graph)
    with store_errors():
        snapshot = app.get_state(thread_config(session))
    session.live_state = state_of(graph_config(session.graph), snapshot)
    return session.live_state


def get_history(
    session: Session | Any, *, limit: int = 20, before: str | None = None, actor: Any = None
) -> list[dict[str, Any]]:
    """The session's checkpoints, newest first, `limit` at a time.

    Each entry: checkpoint_id, parent_checkpoint_id, step, source (input, loop, update,
    fork), nodes (the nodes whose writes made this checkpoint), created_at, next and
    interrupts. Page with `before=<oldest checkpoint_id seen>`.
    Raises SessionNotFound, InvalidInput (bad limit), CheckpointerUnavailable.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY:
        raise InvalidInput(errors={"limit": f"must be an integer from 1 to {MAX_HISTORY}"})
    if before is not None and (not isinstance(before, str) or not before):
        raise InvalidInput(errors={"before": "must be a checkpoint id"})
    session = Session.objects.resolve(session)
    rules.authorize_view(actor, session)
    app = get_app(session.graph)
    config = graph_config(session.graph)
    before_config = thread_config(session, before) if before else None
    with store_errors():
        # One extra: the oldest entry's writers are its parent's `next`.
        snapshots = list(
            app.get_state_history(thread_config(session), limit=limit + 1, before=before_config)
        )
        by_id = {checkpoint_id_of(s.config): s for s in snapshots}
        entries = []
        for snapshot in snapshots[:limit]:
            parent_id = checkpoint_id_of(snapshot.parent_config)
            writers: list[str] = []
            if (snapshot.metadata or {}).get("source") == "loop" and parent_id:
                parent = by_id.get(parent_id) or app.get_state(thread_config(session, parent_id))
                writers = node_names(config, parent.next)
            entries.append(history_entry(config, snapshot, writers))
    return entries
