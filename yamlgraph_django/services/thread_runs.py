"""Runs of LangGraph-protocol threads: check a run request and claim the thread; the
engine (`services.engine`) runs it, records it and hands it to a worker.

    prepared = prepare_run(session, RunRequest(graph_name="interview", input={}))
    for mode, chunk, event_id in engine.stream_run(prepared): ...   # or engine.wait_run

Every part also goes to the session's event log; `engine.enqueue_prepared` hands a
`runs.create` run to a worker (Django Tasks), and `join` reads the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from langgraph.types import Command

from yamlgraph_django import registry
from yamlgraph_django.exceptions import InvalidInput, NoWorker, ThreadBusy
from yamlgraph_django.models import (
    Run,
    RunChannel,
    RunControl,
    RunKind,
    RunStatus,
    Session,
    SessionStatus,
)
from yamlgraph_django.services import admission, chat, engine, rules, stores, webhooks, workers
from yamlgraph_django.services.engine import (
    MODES_EVENT,
    PROTOCOL_DOOR,
    PreparedRun,
    enqueue_run,
    outcome,
    refuse_queued,
    run_prepared_in_background,
)
from yamlgraph_django.services.run_events import STOP_REQUESTED, read_events
from yamlgraph_django.services.run_request import RunRequest
from yamlgraph_django.services.snapshots import json_safe, thread_config
from yamlgraph_django.services.threads import (
    IDLE_STATUSES,
    assistant_id_of,
    check_object,
    checkpoint_exists,
    run_uuid,
    thread_state,
)

#: What a protocol run may do when another holds its thread (`submit_run`).
MULTITASK_STRATEGIES = ("reject", "enqueue", "interrupt", "rollback")


def submit_run(
    session: Session,
    request: RunRequest,
    *,
    actor: Any = None,
    background: bool = False,
    in_request: bool = False,
    wait: bool = False,
) -> PreparedRun | Run:
    """Claim the thread for `request` (`prepare_run`) or, when a run holds it, do what
    its `multitask_strategy` says: "reject" raises ThreadBusy; the others queue it
    behind the current run ("interrupt"/"rollback" first ask that run to stop at its
    next step), never a wait in the request. Returns the prepared run, or the queued
    Run row that a worker starts when its turn comes. The request's webhook, if any,
    is set on the thread either way. With `wait` a claimed run is run to its end here
    (`engine.wait_run`; its answer in `prepared.result`): the door hands the request
    over once."""
    try:
        prepared = prepare_run(
            session, request, actor=actor, background=background, in_request=in_request
        )
    except ThreadBusy:
        if request.multitask_strategy == "reject":
            raise
        refuse_if_stranded(session)  # queued behind a run no worker will take
        if request.multitask_strategy in ("interrupt", "rollback"):
            # Its checkpoints stay: rollback is a MAY we do not do.
            request_stop(session, request.multitask_strategy)
        queued = enqueue_request(session, request, actor=actor)
        webhooks.set_webhook(session, request.webhook)
        return queued
    webhooks.set_webhook(prepared.session, request.webhook)
    if wait:
        engine.wait_run(prepared)
    return prepared


def refuse_if_stranded(session: Session) -> None:
    """NoWorker (503) when the thread waits on a queued run and no worker is alive:
    waiting would only end in a timeout."""
    notice = workers.session_notice(session)
    if notice is not None:
        raise NoWorker(f"Thread {session.thread_id}: a run is {notice.detail}.")


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
    lease = Session.objects.claim(session, action="run", idle=IDLE_STATUSES, stamp=stamp, **fields)
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
        Session.objects.release(session, lease, previous)
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


def logged_modes(session: Session, run: Run) -> list[str]:
    """The stream modes the run's own client asked for, as its log recorded them (a
    rejoin after an offset streams the same ones); [] when not found."""
    for event in read_events(session.pk, None, limit=2000):
        if event.event == MODES_EVENT and event.run_id == run.pk:
            return list(event.data)
    return []


def request_stop(session: Session, strategy: str = "interrupt") -> int:
    """Ask the thread's running run(s) to stop at their next step for another run
    (multitask "interrupt" or "rollback"), wherever they run (`Run.control`, read
    between steps). Returns how many were asked."""
    control = RunControl.ROLLBACK if strategy == "rollback" else STOP_REQUESTED
    return Run.objects.request_stop(session.pk, control)


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
        Run.objects.request_stop(session.pk, RunControl.CANCEL_RUN, run_id=run.pk)
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
    return outcome(snapshot, session, breakpoints=True)["status"]


def enqueue_request(session: Session, request: RunRequest, *, actor: Any = None) -> Run:
    """Queue a protocol run behind the thread's current one (multitask "enqueue", and
    "interrupt"/"rollback" once the current run was asked to stop): a queued Run row
    that a worker starts when its turn comes (`engine.dispatch_next`). Never waits."""
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
        refuse_queued(run.pk, exc)
        return "failed"
    run_prepared_in_background(prepared)
    session.refresh_from_db()
    return str(session.status)


engine.RUNNERS[PROTOCOL_DOOR] = run_queued_request
