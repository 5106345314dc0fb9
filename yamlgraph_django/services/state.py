"""Reading a session's checkpoints: its current state and its history.

Checkpoints hold the truth about a session's values (the rows only cache status,
pending questions and final output), so the admin and the API read them here. Names
are the YAML's: engine-private values (leading underscore) are hidden and the engine's
helper nodes (`ask__prompt`) are shown as the node the graph author wrote (`ask`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.services._common import (
    SessionRef,
    get_app,
    graph_config,
    has_checkpoint,
    interrupts_of,
    is_outage,
    load_session,
    node_names,
    public_values,
    read_state,
    thread_config,
    unavailable,
)

MAX_HISTORY = 1000


def get_state(session: SessionRef) -> dict[str, Any]:
    """The session's current checkpoint: {values, next, interrupts, checkpoint_id, created_at}.

    `values` are the public state values; `next` the nodes that run on resume;
    `interrupts` the pending questions [{id, value}]. A session with no checkpoint yet
    (queued in the background) has empty values and None ids.
    Raises SessionNotFound, CheckpointerUnavailable.
    """
    session = load_session(session)
    app = get_app(session.graph)
    config = graph_config(session.graph)
    snapshot = read_state(app, session)
    if not has_checkpoint(snapshot):
        return {
            "values": {},
            "next": [],
            "interrupts": [],
            "checkpoint_id": None,
            "created_at": None,
        }
    return {
        "values": public_values(snapshot.values),
        "next": node_names(config, snapshot.next),
        "interrupts": interrupts_of(snapshot, config),
        "checkpoint_id": _checkpoint_id(snapshot.config),
        "created_at": _parse_time(snapshot.created_at),
    }


def get_history(
    session: SessionRef, *, limit: int = 20, before: str | None = None
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
    session = load_session(session)
    app = get_app(session.graph)
    config = graph_config(session.graph)
    before_config = thread_config(session, before) if before else None
    try:
        # One extra: the oldest entry's writers are its parent's `next`.
        snapshots = list(
            app.get_state_history(thread_config(session), limit=limit + 1, before=before_config)
        )
    except Exception as exc:
        if is_outage(exc):
            raise unavailable(exc) from exc
        raise
    by_id = {_checkpoint_id(s.config): s for s in snapshots}
    entries = []
    for snapshot in snapshots[:limit]:
        metadata = snapshot.metadata or {}
        source = metadata.get("source")
        parent_id = _checkpoint_id(snapshot.parent_config)
        writers: list[str] = []
        if source == "loop" and parent_id:
            parent = by_id.get(parent_id) or read_state(app, session, parent_id)
            writers = node_names(config, parent.next)
        entries.append(
            {
                "checkpoint_id": _checkpoint_id(snapshot.config),
                "parent_checkpoint_id": parent_id,
                "step": metadata.get("step"),
                "source": source,
                "nodes": writers,
                "created_at": _parse_time(snapshot.created_at),
                "next": node_names(config, snapshot.next),
                "interrupts": interrupts_of(snapshot, config),
            }
        )
    return entries


def _checkpoint_id(config: dict[str, Any] | None) -> str | None:
    return ((config or {}).get("configurable") or {}).get("checkpoint_id")


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
