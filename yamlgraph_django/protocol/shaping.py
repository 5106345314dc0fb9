"""Protocol JSON for assistants, threads and runs, and Server-Sent Event frames.

The shapes are the ones LangGraph's clients read (LANGGRAPH-PROTOCOL.md sections 1-5);
times are ISO-8601, ids UUID strings.
"""

from __future__ import annotations

from typing import Any

from yamlgraph.answers import inbox_card
from yamlgraph_django.models import GraphDefinition, Run, RunStatus, Session, SessionStatus
from yamlgraph_django.services import threads, workers

THREAD_STATUS = {
    SessionStatus.RUNNING: "busy",
    SessionStatus.INTERRUPTED: "interrupted",
    SessionStatus.COMPLETED: "idle",
    SessionStatus.CANCELLED: "idle",
    SessionStatus.FAILED: "error",
}

#: Protocol thread status -> session statuses (for `threads.search {status}`).
SESSION_STATUSES = {
    "idle": [SessionStatus.PENDING, SessionStatus.COMPLETED, SessionStatus.CANCELLED],
    "busy": [SessionStatus.RUNNING, SessionStatus.PENDING],
    "interrupted": [SessionStatus.INTERRUPTED],
    "error": [SessionStatus.FAILED],
}

RUN_STATUS = {
    RunStatus.QUEUED: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "interrupted",  # the protocol's word for a run stopped on request
}


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def assistant(definition: GraphDefinition, created_at: Any = None) -> dict[str, Any]:
    """langgraph-api's system assistant of a graph: one per graph, uuid5 of its name."""
    return {
        "assistant_id": threads.assistant_id_of(definition.name),
        "graph_id": definition.name,
        "name": definition.name,
        "description": definition.description or None,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system"},
        "version": definition.version,
        "created_at": iso(created_at or definition.registered_at),
        "updated_at": iso(definition.registered_at),
    }


def thread_status(session: Session) -> str:
    if session.status == SessionStatus.PENDING:
        active = getattr(session, "has_active_run", None)
        if active is None:
            active = threads.thread_runs(session).filter(status__in=threads.ACTIVE_RUN).exists()
        return "busy" if active else "idle"
    return THREAD_STATUS.get(session.status, "idle")


def thread(session: Session, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Thread. With `state` (read from the checkpointer) values and interrupts are
    live; without it they are the row's cached final output / input and pending
    questions, so a search page costs no checkpoint reads."""
    if state is not None:
        values = state["values"] or None
        interrupts = {
            task["id"]: task["interrupts"] for task in state["tasks"] if task["interrupts"]
        }
    else:
        values = session.output if session.output is not None else (session.input or None)
        interrupts = {
            i["id"]: [{**i, **inbox_card(i.get("value"), i.get("response_schema"))}]
            for i in session.interrupts or []
            if isinstance(i, dict)
        }
    status = thread_status(session)
    return {
        "thread_id": session.thread_id,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "state_updated_at": iso(session.updated_at),
        "metadata": session.metadata or {},
        "status": status,
        "config": {},
        "values": values,
        "interrupts": interrupts,
        "error": session.error or None if status == "error" else None,
    }


def run(run: Run, session: Session) -> dict[str, Any]:
    """A Run; one cancelled or stopped (before or while it ran) reads `interrupted`."""
    status = RUN_STATUS.get(run.status, "error")
    finished = run.finished_at or run.started_at
    body = {
        "run_id": threads.run_uuid(run),
        "thread_id": session.thread_id,
        "assistant_id": (session.metadata or {}).get("assistant_id")
        or (threads.assistant_id_of(session.graph.name) if session.graph_id else None),
        "created_at": iso(run.started_at),
        "updated_at": iso(finished),
        "status": status,
        "metadata": {"kind": run.kind, "channel": run.channel},
        "multitask_strategy": run.multitask_strategy or "reject",
        "kwargs": {},
    }
    notice = workers.queued_notice(run)
    if notice is not None:  # queued while no worker is alive: say so, and what to do
        body["waiting_for_worker"] = notice.as_dict()
    return body
