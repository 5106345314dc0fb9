"""The thread-scoped protocol of LangGraph's newest clients (`@langchain/react` 1.1's
`useStream`, the JS SDK's `client.threads.stream`), next to the v1 run endpoints:

- `POST /threads/{id}/commands`: `{"id": N, "method": M, "params": {...}}`, answered
  `{"type": "success", "id": N, "result": {...}}` or
  `{"type": "error", "id": N, "error": <code>, "message": ...}` (HTTP 4xx with it).
  Methods: `run.start` (creates the thread when the client made its id up),
  `input.respond`, `state.get`, `state.listCheckpoints`, `state.fork`, `agent.getTree`,
  `subscription.subscribe` / `unsubscribe` / `reconnect`, `input.inject` (not supported).
- `POST /threads/{id}/stream/events`: the events of the thread's runs (`stream_events`).
- `GET /threads/{id}/stream`: v1 `threads.joinStream`, every run of the thread as v1 SSE.

Runs started here go to a worker (as `runs.create` does) and write the event log, which
the event streams read; the command answers as soon as the run is queued.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from yamlgraph_django import services
from yamlgraph_django.exceptions import (
    GraphNotFound,
    InvalidInput,
    SessionNotFound,
    YamlgraphError,
)
from yamlgraph_django.http_streams import follow_response
from yamlgraph_django.models import Run, Session
from yamlgraph_django.protocol import stream_events
from yamlgraph_django.protocol.runs import ProtocolFrames
from yamlgraph_django.protocol.stream_modes import stream_modes_of
from yamlgraph_django.protocol.views import ProtocolView, resolve_assistant
from yamlgraph_django.services.run_request import RunRequest
from yamlgraph_django.services.thread_events import ThreadFollower, latest_run_pk

engine = services.engine
threads = services.threads
thread_runs = services.thread_runs

#: What a run started here logs, so every channel a client may open has its source.
RUN_MODES = ["values", "updates", "messages-tuple", "custom", "checkpoints", "tasks"]
#: A v1 thread join closes once no run has been active for this long.
JOIN_IDLE_SECONDS = 3.0

#: Our errors -> the protocol's error codes.
ERROR_CODES = {
    400: "invalid_argument",
    403: "permission_denied",
    404: "no_such_run",
    409: "invalid_argument",
    422: "invalid_argument",
}


class CommandError(Exception):
    """A protocol error answered as `{"type": "error", "error": code, "message"}`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def message_of(exc: YamlgraphError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(f"{field}: {text}" for field, text in errors.items())
    return str(getattr(exc, "detail", None) or exc)


class CommandsView(ProtocolView):
    """`POST /threads/{id}/commands`: one command per request."""

    def post(self, request: Request, thread_id: str) -> Response:
        body = request.data
        command_id = body.get("id") if isinstance(body, Mapping) else None
        try:
            if not isinstance(body, Mapping):
                raise CommandError("invalid_argument", "the body must be a command object")
            method, params = body.get("method"), body.get("params") or {}
            if not isinstance(method, str):
                raise CommandError("invalid_argument", "method: must be a string")
            if not isinstance(params, Mapping):
                raise CommandError("invalid_argument", "params: must be an object")
            handler = self.HANDLERS.get(method)
            if handler is None:
                known = ", ".join(sorted(self.HANDLERS))
                raise CommandError(
                    "unknown_command", f"unknown method '{method}'; known: {known}", 404
                )
            result = handler(self, thread_id, dict(params))
        except CommandError as exc:
            return self.error(command_id, exc.code, exc.message, exc.status)
        except YamlgraphError as exc:
            status = getattr(exc, "status_code", 400)
            code = ERROR_CODES.get(status, "unknown_error")
            if isinstance(exc, GraphNotFound):
                code = "invalid_argument"  # an unknown assistant, not a missing run
            return self.error(command_id, code, message_of(exc), status)
        return Response({"type": "success", "id": command_id, "result": result})

    def error(self, command_id: Any, code: str, message: str, status: int) -> Response:
        body = {"type": "error", "id": command_id, "error": code, "message": message}
        return Response(body, status=status)

    # ------------------------------------------------------------------ helpers

    def existing(self, thread_id: str) -> Session:
        try:
            return self.thread(thread_id)
        except SessionNotFound:
            raise CommandError("no_such_run", f"Thread {thread_id} not found", 404) from None

    def launch(
        self,
        session: Session,
        graph_name: str,
        params: Mapping[str, Any],
        *,
        graph_input: Any = None,
        command: Mapping[str, Any] | None = None,
        checkpoint_id: str | None = None,
    ) -> str:
        """Claim the thread for a run and hand it to a worker, or, on a busy thread,
        queue the run behind the current one as the strategy says (never a wait in the
        request); the run's public id."""
        config = params.get("config")
        if config is not None and not isinstance(config, Mapping):
            raise CommandError("invalid_argument", "config: must be an object")
        configurable = dict((config or {}).get("configurable") or {})
        checkpoint_id = checkpoint_id or configurable.pop("checkpoint_id", None)
        strategy = params.get("multitask_strategy") or params.get("multitaskStrategy") or "enqueue"
        if strategy not in thread_runs.MULTITASK_STRATEGIES:
            raise CommandError(
                "invalid_argument",
                "multitask_strategy: must be reject, enqueue, interrupt or rollback",
            )
        run_request = RunRequest(
            graph_name=graph_name,
            input=graph_input,
            command=command,
            checkpoint_id=checkpoint_id,
            metadata=params.get("metadata"),
            config={**(config or {}), "configurable": configurable} if config else None,
            stream_modes=list(RUN_MODES),
            on_disconnect="continue",
            assistant_id=threads.assistant_id_of(graph_name),
            multitask_strategy=strategy,
        )
        submitted = thread_runs.submit_run(
            session, run_request, actor=self.actor(), background=True
        )
        if isinstance(submitted, Run):  # queued behind the thread's current run
            return threads.run_uuid(submitted)
        engine.enqueue_prepared(submitted)
        return submitted.run_id

    # ------------------------------------------------------------------ methods

    def run_start(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        assistant = params.get("assistant_id")
        if not isinstance(assistant, str) or not assistant:
            raise CommandError("invalid_argument", "assistant_id: required (a graph name or id)")
        definition = resolve_assistant(assistant)
        command = params.get("command")
        if command is not None and not isinstance(command, Mapping):
            raise CommandError("invalid_argument", "command: must be an object")
        graph_input = None if command else params.get("input")
        session = self.visible().filter(thread_id=thread_id).first()
        created = False
        if session is None:
            # @langchain/react makes a thread id up and starts its first run on it.
            session, created = threads.create_thread(
                owner=self.actor(), thread_id=thread_id, graph_name=definition.name
            )
        try:
            run_id = self.launch(
                session, definition.name, params, graph_input=graph_input, command=command
            )
        except BaseException:
            if created:  # a refused first run leaves no thread behind
                threads.delete_thread(session)
            raise
        return {"run_id": run_id}

    def input_respond(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        session = self.existing(thread_id)
        if "responses" in params:
            entries = params["responses"]
            if not isinstance(entries, list) or not entries:
                raise CommandError("invalid_argument", "responses: must be a non-empty list")
        else:
            entries = [params]
        answers: dict[str, Any] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("interrupt_id"), str):
                raise CommandError(
                    "invalid_argument", f"responses[{index}].interrupt_id: required (a string)"
                )
            answers[entry["interrupt_id"]] = entry.get("response")
        pending = [i["id"] for i in threads.thread_state(session)["interrupts"]]
        missing = [i for i in answers if i not in pending]
        if missing:
            raise CommandError(
                "no_such_interrupt",
                f"no pending interrupt {', '.join(missing)} on thread {thread_id}"
                + (f" (pending: {', '.join(pending)})" if pending else " (none is pending)"),
                404,
            )
        command: dict[str, Any] = {"resume": answers}
        for key in ("update", "goto"):
            if params.get(key) is not None:
                command[key] = params[key]
        self.launch(session, session.graph.name, params, command=command)
        return {}

    def state_get(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        session = self.existing(thread_id)
        state = threads.thread_state(session)
        values = state["values"] if isinstance(state["values"], Mapping) else {}
        keys = params.get("keys")
        if isinstance(keys, list):
            values = {k: v for k, v in values.items() if k in keys}
        result: dict[str, Any] = {"values": values}
        if state["checkpoint_id"]:
            result["checkpoint"] = {"id": state["checkpoint_id"], "ns": ""}
        return result

    def state_list_checkpoints(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        session = self.existing(thread_id)
        limit = params.get("limit", 10)
        history = threads.thread_history(
            session, limit=limit if isinstance(limit, int) else 10, before=params.get("before")
        )
        return {
            "checkpoints": [
                {
                    "id": state["checkpoint_id"],
                    "timestamp": state["created_at"],
                    "step": state["metadata"].get("step", 0),
                    "metadata": state["metadata"],
                }
                for state in history
            ]
        }

    def state_fork(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        session = self.existing(thread_id)
        checkpoint_id = params.get("checkpoint_id")
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise CommandError("invalid_argument", "checkpoint_id: required")
        if session.graph_id is None:
            raise CommandError("no_such_checkpoint", "the thread has no checkpoints yet", 404)
        try:
            threads.thread_state(session, checkpoint_id)
        except SessionNotFound:
            raise CommandError(
                "no_such_checkpoint", f"no checkpoint {checkpoint_id} on this thread", 404
            ) from None
        run_id = self.launch(
            session,
            session.graph.name,
            params,
            graph_input=params.get("input"),
            checkpoint_id=checkpoint_id,
        )
        return {"run_id": run_id, "thread_id": session.thread_id}

    def agent_get_tree(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        session = self.existing(thread_id)
        status = {
            "running": "running",
            "pending": "started",
            "interrupted": "interrupted",
            "completed": "completed",
            "failed": "failed",
            "cancelled": "failed",
        }.get(str(session.status), "started")
        graph_name = session.graph.name if session.graph_id else ""
        return {"tree": {"namespace": [], "status": status, "graph_name": graph_name}}

    def subscribe(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Over HTTP the events come on `stream/events`; a subscription is only an id."""
        self.existing(thread_id)
        stream_events.parse_stream_request(params)
        return {"subscription_id": uuid.uuid4().hex}

    def unsubscribe(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    def reconnect(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self.existing(thread_id)
        return {"restored": False}

    def inject(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        raise CommandError(
            "not_supported", "input.inject is not supported: answer with input.respond", 400
        )

    HANDLERS = {
        "run.start": run_start,
        "input.respond": input_respond,
        "input.inject": inject,
        "state.get": state_get,
        "state.listCheckpoints": state_list_checkpoints,
        "state.fork": state_fork,
        "agent.getTree": agent_get_tree,
        "subscription.subscribe": subscribe,
        "subscription.unsubscribe": unsubscribe,
        "subscription.reconnect": reconnect,
    }


class StreamEventsView(ProtocolView):
    """`POST /threads/{id}/stream/events`: the thread's events on the channels asked."""

    def post(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        session = self.thread(thread_id)
        wanted = stream_events.parse_stream_request(request.data)
        graph_name = session.graph.name if session.graph_id else ""
        projection = stream_events.Projection(wanted["channels"], wanted["namespaces"], graph_name)
        follower = stream_events.thread_follower(session, wanted["since"])
        return follow_response(request, follower, stream_events.ProtocolEventFrames(projection), {})


class ThreadJoinStreamView(ProtocolView):
    """`GET /threads/{id}/stream` (`threads.joinStream`): the thread's runs as v1 SSE,
    from its latest run (or after `Last-Event-ID`), following new runs until idle."""

    def get(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        session = self.thread(thread_id)
        after = request.headers.get("Last-Event-ID") or None
        try:
            follower = ThreadFollower(
                session.pk,
                after=after,
                from_run=None if after else latest_run_pk(session),
                idle_seconds=JOIN_IDLE_SECONDS,
            )
        except services.InvalidEventId as exc:
            raise InvalidInput(errors={"Last-Event-ID": str(exc)}) from None
        modes = stream_modes_of(request.query_params)
        graph_name = session.graph.name if session.graph_id else ""
        frames = ProtocolFrames(modes or ["values"], graph_name)
        return follow_response(request, follower, frames, {})
