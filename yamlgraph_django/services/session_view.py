"""One typed view of a session and its state, that every door presents in the same words.

The API serializer, the LangGraph protocol's shaping and the webhook body all describe a
session: where it stands (`status`, `error`), what it holds (`values`: the live state
values, or the stored final values without a state read), where it goes on (`next`),
and what can be answered now (`interrupts`, with their response schemas: the stored
ones, which for a failed session are its last question and for a cancelled one none).
They read those here, so a door cannot call the same thing by another name.

    view = session_view(session, state)      # state: services.get_state(session) or None
    view.values, view.next, view.interrupts, view.checkpoint_id

Building it copies nothing deep: values and interrupts are the state's and the row's own
objects, for a door to serialize straight away (the API's answer is built from it
without a DRF serializer instance, which deep-copies its fields on every use).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from yamlgraph_django.models import Session, SessionStatus


@dataclass(frozen=True)
class SessionView:
    """A session as every door shows it (JSON-safe values; times as datetimes)."""

    id: str
    thread_id: str
    graph: dict[str, Any] | None
    status: str
    input: dict[str, Any]
    values: Any
    next: list[str]
    interrupts: list[dict[str, Any]]
    checkpoint_id: str | None
    error: str | None
    metadata: dict[str, Any]
    revision: int
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


def values_of(session: Session, state: dict[str, Any] | None) -> Any:
    """The session's values: the live state's when read, else the stored final values."""
    if state is None:
        return session.output
    return state.get("values")


def next_of(session: Session, state: dict[str, Any] | None) -> list[str]:
    """The nodes that run when the session goes on; none once it has ended."""
    if not state or session.status in (SessionStatus.COMPLETED, SessionStatus.CANCELLED):
        return []
    return list(state.get("next") or [])


def session_view(session: Session, state: dict[str, Any] | None = None) -> SessionView:
    """The view of `session`, with `state` (from `services.get_state`) when read."""
    graph = session.graph if session.graph_id else None
    return SessionView(
        id=str(session.pk),
        thread_id=session.thread_id,
        graph={"name": graph.name, "version": graph.version} if graph else None,
        status=str(session.status),
        input=session.input,
        values=values_of(session, state),
        next=next_of(session, state),
        interrupts=list(session.interrupts or []),
        checkpoint_id=(state or {}).get("checkpoint_id"),
        error=session.error or None,
        metadata=dict(session.metadata or {}),
        revision=session.revision,
        created_at=session.created_at,
        updated_at=session.updated_at,
        finished_at=session.finished_at,
    )
