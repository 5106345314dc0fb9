"""Thread operations the LangGraph server protocol needs beyond start/resume/cancel.

A LangGraph *thread* is a `Session`: it may exist before its first run (status `pending`,
maybe no graph yet: the graph is chosen by the first run's assistant), it may run many
times (a new input after it completed, a resume, a fork from an old checkpoint), and its
state and history are LangGraph's own snapshots. Everything here is synchronous, raises
the typed errors of `yamlgraph_django.exceptions` (plus `ThreadExists`), and claims a
session with the same compare-and-set status change as the rest of the service, so a
protocol run and an API resume of one session can never both run.

    session, created = create_thread(owner=user, metadata={"k": "v"})
    thread_state(session); thread_history(session, limit=10)
    update_thread_state(session, {"goal": "x"}, as_node="ask_goal", checkpoint_id=...)

Runs of a thread are in `thread_runs`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from yamlgraph_django import registry
from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    InvalidInput,
    SessionNotFound,
    YamlgraphError,
)
from yamlgraph_django.managers import expiry
from yamlgraph_django.models import (
    GraphDefinition,
    Run,
    RunKind,
    RunStatus,
    Session,
    SessionStatus,
)
from yamlgraph_django.services import rules, stores
from yamlgraph_django.services.engine import outcome
from yamlgraph_django.services.maintenance import delete_session
from yamlgraph_django.services.run_events import interrupt_dict, public_values
from yamlgraph_django.services.snapshots import json_safe, thread_config

logger = logging.getLogger("yamlgraph_django.services")

#: Session statuses from which a new run may claim the thread.
IDLE_STATUSES = (
    SessionStatus.PENDING,
    SessionStatus.INTERRUPTED,
    SessionStatus.COMPLETED,
    SessionStatus.FAILED,
    SessionStatus.CANCELLED,
)

ACTIVE_RUN = (RunStatus.RUNNING, RunStatus.QUEUED)


class ThreadExists(YamlgraphError):
    """A thread with that id exists already (`if_exists: raise`)."""

    status_code = 409
    code = "thread_exists"
    default_detail = "A thread with that id exists already."


# --------------------------------------------------------------------------- JSON


# --------------------------------------------------------------------------- lookup


def run_uuid(run: Run) -> str:
    """The protocol's run id: the session id's first 20 hex digits + the row's pk.

    Stable, unique, and maps back to the row without a column of its own.
    """
    return str(uuid.UUID(f"{run.session_id.hex[:20]}{run.pk:012x}"))


def find_run(session: Session, run_id: str) -> Run:
    """The run row of `session` with protocol id `run_id`, else SessionNotFound (404)."""
    try:
        parsed = uuid.UUID(str(run_id))
    except ValueError:
        raise SessionNotFound(f"No run with id '{run_id}' on this thread.") from None
    if parsed.hex[:20] != session.pk.hex[:20]:
        raise SessionNotFound(f"No run with id '{run_id}' on this thread.")
    run = (
        Run.objects.filter(session=session, pk=int(parsed.hex[20:], 16))
        .exclude(kind=RunKind.CANCEL)
        .first()
    )
    if run is None:
        raise SessionNotFound(f"No run with id '{run_id}' on this thread.")
    return run


def thread_runs(session: Session) -> QuerySet[Run]:
    """The thread's runs (starts, resumes, recoveries), newest first."""
    return Run.objects.filter(session=session).exclude(kind=RunKind.CANCEL).order_by("-pk")


def with_activity(queryset: QuerySet[Session]) -> QuerySet[Session]:
    """Sessions annotated with `has_active_run` (queued or running), in one query."""
    active = Run.objects.filter(session=OuterRef("pk"), status__in=ACTIVE_RUN)
    return queryset.annotate(has_active_run=Exists(active))


def search_threads(
    queryset: QuerySet[Session],
    *,
    metadata: Mapping[str, Any] | None = None,
    ids: list[str] | None = None,
    statuses: list[str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> QuerySet[Session]:
    """Narrow `queryset` by metadata containment, thread ids, session statuses and
    (cached) values containment; works on SQLite and Postgres alike."""
    if metadata:
        for key, value in metadata.items():
            queryset = queryset.filter(**{f"metadata__{key}": value})
    if ids:
        queryset = queryset.filter(thread_id__in=[str(i) for i in ids])
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if values:
        for key, value in values.items():
            queryset = queryset.filter(
                Q(**{f"output__{key}": value}) | Q(**{f"input__{key}": value})
            )
    return queryset


# --------------------------------------------------------------------------- threads


def check_object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(errors={name: "must be an object"})
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(errors={name: f"not JSON-serializable: {exc}"}) from None
    return dict(value)


def create_thread(
    *,
    owner: Any,
    thread_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    graph_name: str | None = None,
    if_exists: str = "raise",
) -> tuple[Session, bool]:
    """A new thread (a `pending` session with no run yet), or the existing one.

    The graph is `graph_name` when given, else chosen by the first run. With
    `if_exists="do_nothing"` an existing id returns that session (the caller checks it
    may see it); with "raise" it is ThreadExists (409). Returns (session, created).
    """
    rules.authorize_start(owner)
    if if_exists not in ("raise", "do_nothing"):
        raise InvalidInput(errors={"if_exists": "must be 'raise' or 'do_nothing'"})
    meta = check_object(metadata, "metadata")
    definition = registry.get_latest(graph_name) if graph_name else None
    if thread_id is not None:
        thread_id = str(thread_id)
        if not thread_id.strip() or len(thread_id) > 255:
            raise InvalidInput(errors={"thread_id": "must be a non-empty string of 255 or less"})
        existing = Session.objects.select_related("graph").filter(thread_id=thread_id).first()
        if existing is not None:
            _authorize_seen(owner, existing)  # someone else's thread: 404, never 409
            if if_exists == "do_nothing":
                return existing, False
            raise ThreadExists(f"Thread {thread_id} exists already.")
    if definition is not None:
        meta.setdefault("graph_id", definition.name)
        meta.setdefault("assistant_id", assistant_id_of(definition.name))
    user = owner if owner is not None and getattr(owner, "is_authenticated", False) else None
    session = Session(
        graph=definition,
        owner=user,
        status=SessionStatus.PENDING,
        metadata=meta,
        # A thread with no graph has no checkpoints to prune; it never expires.
        expires_at=expiry(timezone.now()) if definition is not None else None,
    )
    session.thread_id = thread_id or str(session.id)
    try:
        # One INSERT: a savepoint only inside a caller's transaction, which a failed
        # statement would otherwise break (alone, a failed INSERT leaves nothing behind).
        db = router.db_for_write(Session)
        with transaction.atomic(using=db) if connections[db].in_atomic_block else nullcontext():
            session.save(force_insert=True)
    except IntegrityError:
        existing = Session.objects.filter(thread_id=session.thread_id).first()
        if existing is None:
            raise
        _authorize_seen(owner, existing)
        if if_exists == "do_nothing":
            return existing, False
        raise ThreadExists(f"Thread {session.thread_id} exists already.") from None
    session.has_active_run = False  # a new thread has no run (its status: no query)
    return session, True


def _authorize_seen(user: Any, session: Session) -> None:
    """SessionNotFound worded like an unknown thread unless `user` may see `session`."""
    try:
        rules.authorize_view(user, session)
    except SessionNotFound:
        raise SessionNotFound(f"Thread with ID {session.thread_id} not found") from None


def update_thread(
    session: Session, metadata: Mapping[str, Any] | None, *, actor: Any = None
) -> Session:
    """Merge `metadata` into the thread's metadata (PATCH semantics)."""
    rules.authorize_update_state(actor, session)
    meta = check_object(metadata, "metadata")
    if meta:
        session.metadata = {**(session.metadata or {}), **meta}
        session.save(update_fields=["metadata", "updated_at"])
    return session


def delete_thread(session: Session, *, actor: Any = None) -> None:
    """Delete the thread, its runs and its checkpoints."""
    rules.authorize_delete(actor, session)
    if session.graph_id is None:
        session.delete()
        return
    delete_session(session)


def discard_thread(session: Session) -> None:
    """Delete a temporary thread (a stateless run's) whatever happens: with the store
    down its row goes anyway, so no orphan `pending` thread is left behind; checkpoints
    it may have written stay in the store (logged), where no session points to them.
    A thread no run has claimed has no checkpoints: its row goes, the store untouched."""
    if not Run.objects.filter(session=session.pk).exists():
        Session.objects.filter(pk=session.pk).delete()
        return
    try:
        delete_thread(session)
    except CheckpointerUnavailable:
        logger.warning(
            "store down: temporary thread %s deleted, its checkpoints (if any) kept",
            session.thread_id,
        )
        Session.objects.filter(pk=session.pk).delete()
    except SessionNotFound:
        pass


def copy_thread(session: Session, *, owner: Any) -> Session:
    """A new thread owned by `owner` with the same graph, rows and checkpoints."""
    rules.authorize_view(owner, session)
    rules.authorize_start(owner, session.graph)
    stamp = timezone.now()
    copy = Session(
        graph_id=session.graph_id,
        owner=owner if owner is not None and getattr(owner, "is_authenticated", False) else None,
        status=SessionStatus.PENDING if session.status == SessionStatus.RUNNING else session.status,
        input=session.input,
        interrupts=session.interrupts,
        output=session.output,
        error=session.error,
        metadata=dict(session.metadata or {}),
        finished_at=session.finished_at,
        expires_at=expiry(stamp) if session.graph_id else None,
    )
    copy.thread_id = str(copy.id)
    copy.save(force_insert=True)
    if session.graph_id is not None:
        try:
            with stores.store_errors():
                saver = stores.saver_for(session.graph)
                try:
                    saver.copy_thread(session.thread_id, copy.thread_id)
                except NotImplementedError:
                    _copy_checkpoints(saver, session.thread_id, copy.thread_id)
        except BaseException:  # an outage (503): no half-made copy stays behind
            copy.delete()
            raise
    return Session.objects.select_related("graph").get(pk=copy.pk)


def _copy_checkpoints(saver: Any, source: str, target: str) -> None:
    """Copy every checkpoint (oldest first) and its pending writes to another thread,
    through the saver's public API, for savers without `copy_thread`."""
    items = list(saver.list({"configurable": {"thread_id": source}}))
    for item in reversed(items):
        configurable = item.config["configurable"]
        ns = configurable.get("checkpoint_ns", "")
        parent_id = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        put_config = {"configurable": {"thread_id": target, "checkpoint_ns": ns}}
        if parent_id:
            put_config["configurable"]["checkpoint_id"] = parent_id
        checkpoint = item.checkpoint
        saved = saver.put(
            put_config, checkpoint, item.metadata, dict(checkpoint.get("channel_versions", {}))
        )
        by_task: dict[tuple[str, str], list[tuple[str, Any]]] = {}
        for task_id, channel, value in item.pending_writes or ():
            by_task.setdefault((task_id, ""), []).append((channel, value))
        for (task_id, _path), writes in by_task.items():
            saver.put_writes(saved, writes, task_id)


# --------------------------------------------------------------------------- state


def assistant_id_of(graph_name: str) -> str:
    """langgraph-api's system assistant id for a graph (stable across servers)."""
    return str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), graph_name))


def checkpoint_of(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("checkpoint_id"):
        return None
    result = {
        "thread_id": configurable.get("thread_id"),
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable["checkpoint_id"],
    }
    if configurable.get("checkpoint_map"):
        result["checkpoint_map"] = json_safe(configurable["checkpoint_map"])
    return result


def checkpoint_exists(snapshot: Any) -> bool:
    """False for the empty snapshot LangGraph returns for a missing checkpoint (whose
    config echoes the id asked for)."""
    return bool(checkpoint_of(snapshot.config)) and snapshot.created_at is not None


def snapshot_dict(snapshot: Any) -> dict[str, Any]:
    """A LangGraph StateSnapshot as the protocol's ThreadState (JSON-safe)."""
    checkpoint = checkpoint_of(snapshot.config)
    parent = checkpoint_of(snapshot.parent_config)
    tasks = [
        {
            "id": task.id,
            "name": task.name,
            "path": json_safe(list(task.path or ())),
            "error": None if task.error is None else f"{type(task.error).__name__}: {task.error}",
            "interrupts": [interrupt_dict(i) for i in task.interrupts or ()],
            "checkpoint": None,
            "state": None,
            "result": json_safe(task.result) if getattr(task, "result", None) else None,
        }
        for task in snapshot.tasks or ()
    ]
    created = snapshot.created_at
    return {
        "values": public_values(snapshot.values),
        "next": list(snapshot.next or ()),
        "tasks": tasks,
        "interrupts": [interrupt_dict(i) for i in snapshot.interrupts or ()],
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "metadata": json_safe(snapshot.metadata or {}),
        "created_at": created if created is None else str(created),
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "tasks": [],
    "interrupts": [],
    "checkpoint": None,
    "parent_checkpoint": None,
    "metadata": {},
    "created_at": None,
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


def thread_state(
    session: Session,
    checkpoint_id: str | None = None,
    *,
    subgraphs: bool = False,
    actor: Any = None,
) -> dict[str, Any]:
    """The thread's state now, or at `checkpoint_id` (404 if the thread has no such one)."""
    rules.authorize_view(actor, session)
    if session.graph_id is None:
        if checkpoint_id:
            raise SessionNotFound(f"No checkpoint '{checkpoint_id}' on this thread.")
        return dict(EMPTY_STATE)
    with stores.store_errors():
        app = stores.get_app(session.graph)
        snapshot = app.get_state(thread_config(session, checkpoint_id), subgraphs=subgraphs)
    if not checkpoint_exists(snapshot):
        if checkpoint_id:
            raise SessionNotFound(f"No checkpoint '{checkpoint_id}' on this thread.")
        return dict(EMPTY_STATE)
    if checkpoint_id and snapshot.config["configurable"].get("checkpoint_id") != checkpoint_id:
        raise SessionNotFound(f"No checkpoint '{checkpoint_id}' on this thread.")
    return snapshot_dict(snapshot)


def thread_history(
    session: Session,
    *,
    limit: int = 10,
    before: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    actor: Any = None,
) -> list[dict[str, Any]]:
    """The thread's checkpoints, newest first, as ThreadStates."""
    rules.authorize_view(actor, session)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput(errors={"limit": "must be an integer from 1 to 1000"})
    if session.graph_id is None:
        return []
    config = thread_config(session)
    if checkpoint:
        for key in ("checkpoint_ns", "checkpoint_id"):
            if checkpoint.get(key):
                config["configurable"][key] = checkpoint[key]
    before_config = thread_config(session, before) if before else None
    with stores.store_errors():  # the history is read lazily: all of it inside
        app = stores.get_app(session.graph)
        snapshots = app.get_state_history(
            config, limit=limit, before=before_config, filter=dict(metadata) if metadata else None
        )
        return [snapshot_dict(s) for s in snapshots]


def update_thread_state(
    session: Session,
    values: Any,
    *,
    as_node: str | None = None,
    checkpoint_id: str | None = None,
    actor: Any = None,
) -> dict[str, Any]:
    """Write `values` as if `as_node` had (LangGraph's update_state), at the head or at
    `checkpoint_id` (a fork: the old branch stays in history). Returns the new checkpoint.

    The session row is refreshed from the new head (its pending questions, status).
    """
    rules.authorize_update_state(actor, session)
    if session.graph_id is None:
        raise InvalidInput(
            errors={"thread_id": "this thread has not run a graph yet; start a run first"}
        )
    if values is not None and not isinstance(values, Mapping | list):
        raise InvalidInput(errors={"values": "must be an object, a list of objects or null"})
    with stores.store_errors():
        app = stores.get_app(session.graph)
    stamp = timezone.now()
    previous = session.status
    claimed = Session.objects.claim(session, action="update", idle=IDLE_STATUSES, stamp=stamp)
    try:
        with stores.store_errors():
            try:
                config = app.update_state(
                    thread_config(session, checkpoint_id), values, as_node=as_node
                )
            except (ValueError, KeyError) as exc:
                raise InvalidInput(errors={"values": str(exc)}) from None
            snapshot = app.get_state(thread_config(session))
            fields = outcome(snapshot, session, breakpoints=True)
    except BaseException:
        Session.objects.release(session, claimed, previous)
        raise
    Session.objects.finish(session, claimed, **fields)
    checkpoint = checkpoint_of(config)
    return {
        "checkpoint": checkpoint,
        "configurable": json_safe(config.get("configurable", {})),
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
    }


def assistant_graph(definition: GraphDefinition, *, xray: bool | int = False) -> dict[str, Any]:
    """The compiled graph as drawable JSON (LangGraph's Graph.to_json())."""
    with stores.store_errors():
        app = stores.get_app(definition)
    return json_safe(app.get_graph(xray=xray).to_json())


_JSON_TYPES = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "list": {"type": "array"},
    "dict": {"type": "object"},
    "any": {},
}


def state_json_schema(definition: GraphDefinition) -> dict[str, Any]:
    """JSON Schema of the graph's public state (what input and values may contain)."""
    config = stores.graph_config(definition)
    properties = {}
    for name, state_field in config.public_state_fields.items():
        schema = dict(_JSON_TYPES.get(state_field.type, {}))
        schema["title"] = name.replace("_", " ").title()
        if state_field.has_default:
            schema["default"] = json_safe(state_field.default)
        properties[name] = schema
    return {
        "title": config.name,
        "type": "object",
        "properties": properties,
        "description": definition.description or "",
    }
