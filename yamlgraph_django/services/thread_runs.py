"""Runs of LangGraph-protocol threads: check a run request, claim the thread, stream the
graph's LangGraph parts while it runs in the caller's process, record the outcome.

    prepared = prepare_run(session, RunRequest(graph_name="interview", input={}))
    for mode, chunk, event_id in stream_run(prepared): ...   # or wait_run(prepared)

Every part also goes to the session's event log; `enqueue_prepared` hands a
`runs.create` run to a worker (Django Tasks), and `join` reads the log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from langgraph.types import Command

from yamlgraph_django import registry
from yamlgraph_django.exceptions import CheckpointerUnavailable, InvalidInput
from yamlgraph_django.models import (
    Run,
    RunChannel,
    RunControl,
    RunKind,
    RunStatus,
    Session,
    SessionStatus,
)
from yamlgraph_django.services import admission, chat, questions, rules, run_queue, stores
from yamlgraph_django.services.execution import DURABILITY, Heartbeat, answerable, describe_error
from yamlgraph_django.services.run_events import (
    CANCEL_REQUESTED,
    END,
    STOP_REQUESTED,
    STOPPED,
    STREAM_MODES,
    Publisher,
    graph_parts,
    read_events,
)
from yamlgraph_django.services.run_queue import PROTOCOL_DOOR, enqueue_run, run_ended
from yamlgraph_django.services.snapshots import json_safe, thread_config
from yamlgraph_django.services.tasks import task
from yamlgraph_django.services.threads import (
    ThreadBusy,
    assistant_id_of,
    check_object,
    checkpoint_exists,
    claim_thread,
    finish_thread,
    outcome,
    release_thread,
    run_uuid,
    thread_state,
)

logger = logging.getLogger("yamlgraph_django.services")

#: The status of a Run row that was stopped or cancelled (the protocol's `interrupted`).
CANCELLED = RunStatus.CANCELLED

#: LangGraph stream modes a run can produce; the others a client asks for stay silent.
NATIVE_MODES = ("values", "updates", "messages", "custom", "tasks", "checkpoints", "debug")


@dataclass
class RunRequest:
    """What a protocol run asks for (the documented keys the service acts on)."""

    graph_name: str
    input: Any = None
    command: Mapping[str, Any] | None = None
    checkpoint_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    config: Mapping[str, Any] | None = None
    stream_modes: list[str] = field(default_factory=lambda: ["values"])
    interrupt_before: Any = None
    interrupt_after: Any = None
    on_disconnect: str = "cancel"
    assistant_id: str | None = None


@dataclass
class PreparedRun:
    """A claimed thread with its Run row, ready to execute (see `stream_run`)."""

    session: Session
    run: Run
    request: RunRequest
    lease: dt.datetime
    previous: str
    graph_input: Any
    config: dict[str, Any]
    run_id: str = ""


def prepare_run(
    session: Session,
    request: RunRequest,
    *,
    actor: Any = None,
    background: bool = False,
    queued_run: Run | None = None,
    in_request: bool = False,
) -> PreparedRun:
    """Check the request, claim the thread and write its Run row; nothing runs yet.

    Raises GraphNotFound, InvalidInput (400: the thread stays as it was), ThreadBusy
    (409: a run holds the thread). The thread's graph is fixed by its first run; a later
    run with another assistant is InvalidInput.
    """
    if session.graph_id is not None and session.graph.name == request.graph_name:
        definition = session.graph  # the thread's own graph: no lookup
    else:
        definition = registry.get_latest(request.graph_name)
    if session.graph_id is not None and session.graph.name != definition.name:
        raise InvalidInput(
            errors={
                "assistant_id": f"this thread runs graph '{session.graph.name}', "
                f"not '{definition.name}'"
            }
        )
    if session.graph_id is not None:
        definition = session.graph
    command = check_object(request.command, "command") if request.command else None
    admission.authorize_run(actor, session, command, definition)
    with stores.store_errors():
        app = stores.get_app(definition)
    run_metadata = check_object(request.metadata, "metadata")
    user_config = check_object(request.config, "config")
    user_configurable = check_object(user_config.get("configurable"), "config.configurable")
    checkpoint_id = request.checkpoint_id
    head = None
    # The row caches the head's pending questions with their response schemas (written
    # from the checkpoint the run ended at): a resume run in this request (`wait`) is
    # checked against them with no checkpoint read here; an outage is then met by the
    # run itself, which answers 503 the same. A stream or a worker's run reads the head
    # first, so that an outage is a 503 before the stream starts or the run is queued.
    cached = cached_questions(session) if command and "resume" in command else None
    from_row = in_request and cached is not None and not checkpoint_id
    if not from_row and session.graph_id is not None:
        with stores.store_errors():
            head = app.get_state(thread_config(session))
        if checkpoint_id and checkpoint_id == (head.config or {}).get("configurable", {}).get(
            "checkpoint_id"
        ):
            checkpoint_id = None  # useStream sends the current head: same as none
    if checkpoint_id:
        with stores.store_errors():
            at = app.get_state(thread_config(session, checkpoint_id))
        if not checkpoint_exists(at):
            raise InvalidInput(errors={"checkpoint_id": f"no checkpoint '{checkpoint_id}'"})
        head = at
    if request.command is not None and not request.command:
        admission.refuse_empty_command(head)
    chat_reply = None
    if command is None and head is not None:  # a chat message may answer the question
        chat_reply = chat.chat_answer(stores.graph_config(definition), head, request.input)
    if chat_reply is not None:
        command, graph_input = {"resume": chat_reply}, None
    else:
        first_run = head is None or not checkpoint_exists(head)
        graph_input = admission.check_run_input(
            stores.graph_config(definition), request.input, first_run=first_run and not command
        )
    if command:
        unknown = sorted(set(command) - {"resume", "update", "goto"})
        if unknown:
            raise InvalidInput(errors={"command": f"unknown key(s) {', '.join(unknown)}"})
        if "resume" in command:
            if cached is not None and head is None:
                pending = [str(item["id"]) for item in cached]
            else:
                pending = [i.id for i in (head.interrupts if head is not None else ())]
            if not pending:
                raise InvalidInput(
                    errors={"command": "Cannot resume: the thread is not waiting for input"}
                )
            resume = command["resume"]
            by_id = isinstance(resume, Mapping) and resume and all(k in pending for k in resume)
            if isinstance(resume, Mapping) and not by_id and len(pending) > 1:
                raise InvalidInput(errors={"command": "resume ids must be pending interrupt ids"})
            if not by_id and len(pending) > 1:
                raise InvalidInput(
                    errors={
                        "command": f"{len(pending)} interrupts are pending; resume with "
                        f"{{interrupt_id: value}} (ids: {', '.join(pending)})"
                    }
                )
            # Checked against each question's response schema; resumed by id, so
            # `null` is an answer (LangGraph reads a bare None as "no resume").
            command = {
                **command,
                "resume": admission.check_resume(
                    stores.graph_config(definition), head, command["resume"], cached=cached
                ),
            }
        graph_input = Command(
            resume=command.get("resume"),
            update=command.get("update"),
            goto=command.get("goto") or (),
        )
    kind = RunKind.RESUME if command and "resume" in command else RunKind.START
    given_resume = (request.command or {}).get("resume")
    if session.graph_id is None and kind == RunKind.RESUME:
        raise InvalidInput(errors={"command": "Cannot resume: the thread has not run yet"})
    if graph_input is None and session.graph_id is None:
        graph_input = {}

    stamp = timezone.now()
    previous = session.status
    meta = {
        **(session.metadata or {}),
        "graph_id": definition.name,
        "assistant_id": request.assistant_id or assistant_id_of(definition.name),
    }
    # The claim writes the thread's graph, metadata and input in the same UPDATE.
    fields: dict[str, Any] = {"graph": definition, "metadata": meta}
    if session.graph_id is None or (kind == RunKind.START and request.input):
        fields["input"] = check_object(request.input, "input")
    lease = claim_thread(session, stamp, **fields)
    try:
        value = json_safe(given_resume if kind == RunKind.RESUME else request.input)
        if queued_run is not None:  # its turn has come: the row is the queue's
            run = queued_run
            Run.objects.filter(pk=run.pk).update(kind=kind, value=value)
        else:
            run = Run.objects.create(
                session=session,
                kind=kind,
                actor=actor if actor is not None and actor.is_authenticated else None,
                channel=RunChannel.LANGGRAPH,
                value=value,
                status=RunStatus.QUEUED if background else RunStatus.RUNNING,
            )
    except BaseException:
        release_thread(session, lease, previous)
        raise
    for name, field_value in fields.items():
        setattr(session, name, field_value)
    run_id = run_uuid(run)
    configurable = {
        **user_configurable,
        **thread_config(session, checkpoint_id)["configurable"],
    }
    config: dict[str, Any] = {"configurable": configurable}
    for key in ("tags", "recursion_limit"):
        if user_config.get(key) is not None:
            config[key] = user_config[key]
    config["metadata"] = {
        **run_metadata,
        "graph_id": definition.name,
        "assistant_id": meta["assistant_id"],
        "run_id": run_id,
        "thread_id": session.thread_id,
    }
    return PreparedRun(session, run, request, lease, previous, graph_input, config, run_id)


def cached_questions(session: Session) -> list[Mapping[str, Any]] | None:
    """The pending questions the row of an interrupted thread caches, each with the
    response schema an answer is checked against; None when the row cannot stand in
    for the checkpoint (not waiting, or a question written without its schema)."""
    if session.status != SessionStatus.INTERRUPTED or not session.interrupts:
        return None
    items = [item for item in session.interrupts if isinstance(item, Mapping)]
    if len(items) != len(session.interrupts):
        return None
    if not all("id" in item and "response_schema" in item for item in items):
        return None
    return items


def stream_run(
    prepared: PreparedRun, *, each: bool = True
) -> Iterator[tuple[str, Any, str | None]]:
    """Run the graph and yield (mode, JSON-safe chunk, event log id) for the modes asked.

    The first part is ("metadata", {"run_id", "attempt"}). Modes: LangGraph's own (`values` with `__interrupt__`, `updates`, `messages` token
    chunks as [chunk, metadata], `custom`, `tasks`, `checkpoints`, `debug`); a graph error
    is one ("error", {"error", "message"}) at the end. Every part also goes to the event
    log (which `join` replays), closed by our `end`. The outcome is recorded on the rows
    however the stream ends: closing the generator (a client gone) stops the graph at
    the next step, unless the request said `on_disconnect: "continue"`. The session's
    lease is renewed while it runs.
    """
    session, request = prepared.session, prepared.request
    asked = list(dict.fromkeys(request.stream_modes or ["values"]))
    wanted = set(asked) | ({"messages"} if "messages-tuple" in asked else set())
    if "messages" in asked and "messages-tuple" not in asked:
        wanted.discard("messages")  # langgraph-api's message mode: MAY
    modes = tuple(dict.fromkeys([*STREAM_MODES, *(m for m in asked if m in NATIVE_MODES)]))
    error: BaseException | None = None
    closed = False
    stopped = False
    breakpoints = bool(request.interrupt_before or request.interrupt_after)
    on_worker = prepared.run.status == RunStatus.QUEUED  # prepared for a worker
    # `each`: every part is logged at once, for a stream that hands out the log's ids;
    # else in batches (a step at a time), as the other runs do: a short run, one INSERT.
    publisher = Publisher(session.pk, prepared.run.pk, each=each, on_worker=on_worker)
    try:
        with stores.store_errors():
            app = stores.get_app(session.graph)
    except CheckpointerUnavailable as exc:
        release_after_outage(prepared, exc, publisher)
        yield "error", outage_part(exc), None
        return
    heartbeat = Heartbeat(session, prepared.lease)
    parts = graph_parts(
        app,
        prepared.graph_input,
        prepared.config,
        publisher,
        durability=DURABILITY,
        modes=modes,
        interrupt_before=request.interrupt_before,
        interrupt_after=request.interrupt_after,
    )
    try:
        with heartbeat:
            # First, inside the try: a client gone before any graph step still records.
            publisher.publish(MODES_EVENT, sorted(wanted))  # what a rejoin sends again
            ids = publisher.publish("metadata", {"run_id": prepared.run_id, "attempt": 1})
            yield "metadata", {"run_id": prepared.run_id, "attempt": 1}, first(ids)
            for mode, data, ids in parts:
                if mode == STOPPED:
                    stopped = True
                    parts.close()  # cooperative stop: the checkpoints so far stay
                    break
                if closed or mode not in wanted:
                    continue  # on_disconnect "continue": run to the end, nobody listens
                try:
                    yield mode, data, first(ids)
                except GeneratorExit:
                    if request.on_disconnect != "continue":
                        raise
                    closed = True
    except GeneratorExit:
        parts.close()
        prepared.lease = heartbeat.lease
        _record(prepared, app, None, breakpoints, cancelled=True, publisher=publisher)
        raise
    except Exception as exc:
        prepared.lease = heartbeat.lease
        if stores.is_outage(exc):  # not the graph's fault: the thread stays as it was
            outage = stores.unavailable(exc)
            release_after_outage(prepared, outage, publisher)
            if not closed:
                yield "error", outage_part(outage), None
            return
        logger.info("run %s failed: %s", prepared.run_id, exc, exc_info=True)
        error = exc
    prepared.lease = heartbeat.lease
    error_ids: list[str] = []
    if error is not None:
        data = {"error": type(error).__name__, "message": str(error)}
        error_ids = publisher.publish("error", data, flush=True)
    _record(prepared, app, error, breakpoints, cancelled=stopped, publisher=publisher)
    if error is not None and not closed:
        yield "error", {"error": type(error).__name__, "message": str(error)}, first(error_ids)


#: The logged (not streamed) part that records which modes the run's client asked for.
MODES_EVENT = "__modes__"


def logged_modes(session: Session, run: Run) -> list[str]:
    """The stream modes the run's own client asked for, as its log recorded them (a
    rejoin after an offset streams the same ones); [] when not found."""
    for event in read_events(session.pk, None, limit=2000):
        if event.event == MODES_EVENT and event.run_id == run.pk:
            return list(event.data)
    return []


def first(ids: list[str]) -> str | None:
    return ids[0] if ids else None


def request_stop(session: Session, strategy: str = "interrupt") -> int:
    """Ask the thread's running run(s) to stop at their next step for another run
    (multitask "interrupt" or "rollback"), wherever they run (`Run.control`, read
    between steps). Returns how many were asked."""
    control = RunControl.ROLLBACK if strategy == "rollback" else STOP_REQUESTED
    return Run.objects.request_stop(session.pk, control)


def _record(
    prepared: PreparedRun,
    app: Any,
    error: BaseException | None,
    breakpoints: bool,
    *,
    cancelled: bool = False,
    publisher: Publisher | None = None,
) -> None:
    """Write where the run stopped on the session and the Run row. A run `cancelled`
    because its client went away keeps its checkpoints (the thread resumes from them);
    its row reads "cancelled" (the protocol's `interrupted`)."""
    session, run = prepared.session, prepared.run
    snapshot = None
    try:
        with stores.store_errors():
            snapshot = app.get_state(thread_config(session))
    except CheckpointerUnavailable as exc:  # the store went away at the run's end
        release_after_outage(prepared, exc, publisher)
        return
    fields = outcome(snapshot, breakpoints=breakpoints, session=session)
    if error is not None:
        # As the other engine records a failure (`execution.fail`): the last question
        # stays answerable, so a resume through any door answers it again.
        fields.update(
            status=SessionStatus.FAILED,
            output=None,
            error=describe_error(error),
            interrupts=answerable(app, session),
        )
    elif cancelled and fields["status"] == SessionStatus.FAILED:
        fields["error"] = (
            "the run was stopped before the end (cancelled, or its client left); run again to continue"
        )
    if error is not None:
        run_fields = {"status": RunStatus.FAILED, "error": fields.get("error", "")}
    elif cancelled:
        run_fields = {"status": RunStatus.CANCELLED, "error": "stopped before the end"}
    else:
        run_fields = {"status": RunStatus.SUCCEEDED, "error": ""}
    # The run row first, with no transaction (as `execution.execute` does): a crash
    # between the two leaves the thread running under its lease, which recovery settles.
    Run.objects.end(run.pk, run_fields["status"], run_fields["error"])
    finish_thread(session, prepared.lease, fields)
    session.status, session.interrupts = fields["status"], fields.get("interrupts", [])
    questions.record_outcome(session, run=run, snapshot=snapshot)
    if publisher is not None:
        end = {"run_id": run.pk, "status": str(fields["status"])}
        publisher.publish(END, end, flush=True)
    run_ended(session)


def outage_part(exc: CheckpointerUnavailable) -> dict[str, Any]:
    """The `error` part that ends a stream cut by a store outage (the thread resumable)."""
    return {"error": type(exc).__name__, "message": str(exc.detail)}


def release_after_outage(
    prepared: PreparedRun, exc: CheckpointerUnavailable, publisher: Publisher | None
) -> None:
    """A store outage ended the run: the thread goes back to where it was before the
    claim (never `failed`: the same run works once the store is back), the Run row
    records the outage, and the log says so."""
    release_thread(prepared.session, prepared.lease, prepared.previous)
    Run.objects.end(prepared.run.pk, RunStatus.FAILED, f"{type(exc).__name__}: {exc.detail}")
    if publisher is not None:
        publisher.publish("error", outage_part(exc))
        end = {"run_id": prepared.run.pk, "status": str(prepared.previous)}
        publisher.publish(END, end, flush=True)
    run_ended(prepared.session)


def wait_run(prepared: PreparedRun) -> dict[str, Any]:
    """Run to the end or the next interrupt; the final values, with `__interrupt__`
    when it stopped at one, or `{"__error__": {...}}` when the graph raised.
    A store outage raises CheckpointerUnavailable (503), the thread as it was."""
    prepared.request.stream_modes = ["values"]
    last: Any = {}
    for mode, chunk, _id in stream_run(prepared, each=False):
        if mode == "error":
            if chunk.get("error") == CheckpointerUnavailable.__name__:
                raise CheckpointerUnavailable(chunk["message"])
            return {"__error__": chunk}
        if mode == "values":
            last = chunk
    return last if isinstance(last, dict) else {"__value__": last}


def run_result(session: Session) -> dict[str, Any]:
    """What `join` answers for a finished run: the thread's values now, with pending
    interrupts, or the error the session failed with."""
    session.refresh_from_db()
    if session.status == SessionStatus.FAILED and session.error:
        name, _, message = session.error.partition(": ")
        return {"__error__": {"error": name, "message": message}}
    state = thread_state(session)
    values = dict(state["values"])
    if state["interrupts"]:
        values["__interrupt__"] = state["interrupts"]
    return values


def cancel_run(session: Session, run: Run, *, actor: Any = None) -> Run:
    """Cancel a run: a queued one never starts (the thread is free again at once); a
    running one stops at its next step, keeping its checkpoints; a finished one stays
    as it is."""
    rules.authorize_cancel(actor, session)
    if run.status == RunStatus.RUNNING:
        Run.objects.request_stop(session.pk, CANCEL_REQUESTED, run_id=run.pk)
    elif run.status == RunStatus.QUEUED:
        updated = Run.objects.cancel_queued(session.pk, run_id=run.pk)
        if updated:
            Session.objects.unclaim_queued(session, prepared_status(session))
    run.refresh_from_db()
    return run


def prepared_status(session: Session) -> str:
    """The status a thread goes back to when its queued run is cancelled."""
    with stores.store_errors():
        snapshot = stores.get_app(session.graph).get_state(thread_config(session))
    if not checkpoint_exists(snapshot):
        return SessionStatus.PENDING
    return outcome(snapshot, breakpoints=True, session=session)["status"]


def enqueue_prepared(prepared: PreparedRun, *, delay: float = 0.0) -> None:
    """Hand a run prepared with `background=True` to a worker (Django Tasks), once the
    rows it needs are committed; `delay` seconds later where the backend can defer."""
    payload = to_payload(prepared)

    def enqueue() -> None:
        task = run_thread
        if delay and task.get_backend().supports_defer:
            task = task.using(run_after=timezone.now() + dt.timedelta(seconds=delay))
        try:
            task.enqueue(payload)
        except Exception as exc:
            logger.exception("could not enqueue run %s", prepared.run_id)
            error = ValueError(f"could not enqueue the run: {exc}")
            _record(prepared, stores.get_app(prepared.session.graph), error, False)

    transaction.on_commit(enqueue)


def to_payload(prepared: PreparedRun) -> dict[str, Any]:
    """A prepared run as JSON (a task argument): ids, the request, the claim token."""
    graph_input: Any = prepared.graph_input
    if isinstance(graph_input, Command):
        goto = graph_input.goto
        graph_input = {
            "__command__": {
                "resume": graph_input.resume,
                "update": graph_input.update,
                "goto": list(goto) if isinstance(goto, list | tuple) else goto,
            }
        }
    return {
        "session": str(prepared.session.pk),
        "run": prepared.run.pk,
        "request": json_safe(dataclasses.asdict(prepared.request)),
        "lease": prepared.lease.isoformat(),
        "previous": prepared.previous,
        "input": json_safe(graph_input),
        "config": json_safe(prepared.config),
        "run_id": prepared.run_id,
    }


def from_payload(payload: Mapping[str, Any]) -> PreparedRun | None:
    """The prepared run a payload describes, or None if its thread or run is gone."""
    session = Session.objects.select_related("graph").filter(pk=payload["session"]).first()
    run = Run.objects.filter(pk=payload["run"]).first()
    if session is None or run is None:
        return None
    graph_input = payload["input"]
    if isinstance(graph_input, Mapping) and "__command__" in graph_input:
        command = graph_input["__command__"]
        graph_input = Command(
            resume=command.get("resume"),
            update=command.get("update"),
            goto=command.get("goto") or (),
        )
    return PreparedRun(
        session=session,
        run=run,
        request=RunRequest(**payload["request"]),
        lease=dt.datetime.fromisoformat(payload["lease"]),
        previous=payload["previous"],
        graph_input=graph_input,
        config=dict(payload["config"]),
        run_id=payload["run_id"],
    )


def enqueue_request(session: Session, request: RunRequest, *, actor: Any = None) -> Run:
    """Queue a protocol run behind the thread's current one (multitask "enqueue", and
    "interrupt"/"rollback" once the current run was asked to stop): a queued Run row
    that a worker starts when its turn comes (`services.run_queue`). Never waits."""
    payload = {"door": PROTOCOL_DOOR, "request": json_safe(dataclasses.asdict(request))}
    kind = RunKind.RESUME if request.command and "resume" in request.command else RunKind.START
    return enqueue_run(
        session, payload, kind=kind, actor=actor, channel=RunChannel.LANGGRAPH, value=None
    )


def run_queued_request(session: Session, run: Run) -> str:
    """Run a queued protocol run whose turn has come, on this worker. Returns the
    thread's status, "waiting" (claimed by someone else first: it stays queued), or
    "failed" (the request is refused now: the row says why)."""
    request = RunRequest(**(run.request or {})["request"])
    try:
        prepared = prepare_run(session, request, actor=run.actor, background=True, queued_run=run)
    except ThreadBusy:
        return "waiting"
    except Exception as exc:  # refused now (InvalidInput...), or the store is down
        detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
        Run.objects.end(run.pk, RunStatus.FAILED, f"not run: {detail}")
        return "failed"
    prepared.run.status = RunStatus.QUEUED
    run_prepared_in_background(prepared)
    session.refresh_from_db()
    return str(session.status)


run_queue.RUNNERS[PROTOCOL_DOOR] = run_queued_request


@task()
def run_thread(payload: dict[str, Any]) -> str:
    """Run a LangGraph-protocol run (`runs.create`) prepared by a request, on a worker."""
    return run_payload(payload)


def run_payload(payload: Mapping[str, Any]) -> str:
    """The worker's side of `enqueue_prepared`."""
    prepared = from_payload(payload)
    if prepared is None:
        return "deleted"
    run_prepared_in_background(prepared)
    return "done"


def run_prepared_in_background(prepared: PreparedRun) -> None:
    """Execute a run prepared with `background=True` to its end, nobody listening (its
    parts go to the event log, which `join` and joined streams read)."""
    if not Run.objects.begin(
        prepared.run.pk
    ):  # cancelled while it waited: the thread was released then
        return
    prepared.request.stream_modes = ["values"]
    for _part in stream_run(prepared, each=False):
        pass
