"""Run views of the LangGraph server protocol: wait, stream, create + join, list, get,
cancel, and stateless runs. `wait` and `stream` execute in the request (`stream` sends
its parts as they come, with the event log's ids); `runs.create` answers at once and a
worker runs it; `join` and joined streams read the event log, so they work from any
app server, replay a finished run, and resume after `Last-Event-ID`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from yamlgraph_django import services
from yamlgraph_django.exceptions import InvalidInput, SessionNotFound
from yamlgraph_django.http_streams import event_stream_response, follow_response, sse
from yamlgraph_django.models import Run, RunStatus, Session
from yamlgraph_django.protocol import serializers, shaping
from yamlgraph_django.protocol.views import ProtocolView, resolve_assistant
from yamlgraph_django.services.run_events import END

threads = services.threads
thread_runs = services.thread_runs

#: How long `join` and a joined stream wait for a run to finish.
JOIN_WAIT_SECONDS = 300.0
POLL_SECONDS = 0.1
HEARTBEAT_SECONDS = 5.0


def run_headers(session: Session, run_id: str, tail: str) -> dict[str, str]:
    base = f"/threads/{session.thread_id}/runs/{run_id}"
    return {"Content-Location": base, "Location": f"{base}/{tail}"}


@dataclass
class QueuedRun:
    """A run queued behind the thread's current one (multitask "enqueue"; "interrupt"
    and "rollback" after asking the current one to stop): a worker starts it."""

    session: Session
    run: Run
    stream_modes: list[str]

    @property
    def run_id(self) -> str:
        return threads.run_uuid(self.run)


class RunStartMixin:
    """Check a run body, find or create the thread, and claim it for the run, or queue
    the run behind the thread's current one (never a wait in the request)."""

    def start(
        self,
        view: ProtocolView,
        thread_id: str,
        *,
        background: bool = False,
        in_request: bool = False,
    ) -> thread_runs.PreparedRun | QueuedRun:
        data = view.body(serializers.RunCreateSerializer)
        session = view.visible().filter(thread_id=thread_id).first()
        assistant = str(data["assistant_id"])
        if (
            session is not None
            and session.graph_id is not None
            and assistant
            in (
                session.graph.name,
                threads.assistant_id_of(session.graph.name),
            )
        ):
            definition = session.graph  # the thread's own graph: no lookup
        else:
            definition = resolve_assistant(assistant)
        if session is None:
            if data.get("if_not_exists") != "create":
                raise SessionNotFound(f"Thread with ID {thread_id} not found")
            session, _created = threads.create_thread(
                owner=view.actor(), thread_id=thread_id, graph_name=definition.name
            )
        request = thread_runs.RunRequest(
            graph_name=definition.name,
            input=data.get("input"),
            command=data.get("command"),
            checkpoint_id=data.get("checkpoint_id"),
            metadata=data.get("metadata"),
            config=data.get("config"),
            stream_modes=data.get("stream_mode") or ["values"],
            interrupt_before=data.get("interrupt_before"),
            interrupt_after=data.get("interrupt_after"),
            on_disconnect=data.get("on_disconnect") or "cancel",
            assistant_id=threads.assistant_id_of(definition.name),
        )
        strategy = data.get("multitask_strategy") or "enqueue"
        try:
            prepared = thread_runs.prepare_run(
                session, request, actor=view.actor(), background=background, in_request=in_request
            )
        except threads.ThreadBusy:
            if strategy == "reject":
                raise
            if strategy in ("interrupt", "rollback"):
                # Stop the running run at its next step (its checkpoints stay: rollback
                # is a MAY we do not do); this one is queued and starts when it has.
                thread_runs.request_stop(session, strategy)
            queued = thread_runs.enqueue_request(session, request, actor=view.actor())
            services.webhooks.set_webhook(session, data.get("webhook"))
            return QueuedRun(session, queued, list(request.stream_modes))
        prepared.after_seconds = data.get("after_seconds")  # type: ignore[attr-defined]
        services.webhooks.set_webhook(prepared.session, data.get("webhook"))
        return prepared


class RunWaitView(RunStartMixin, ProtocolView):
    def post(self, request: Request, thread_id: str) -> Response:
        prepared = self.start(self, thread_id, in_request=True)
        headers = run_headers(prepared.session, prepared.run_id, "join")
        if isinstance(prepared, QueuedRun):  # its result, once a worker has run it
            wait_for_run(prepared.run)
            return Response(thread_runs.run_result(prepared.session), headers=headers)
        return Response(thread_runs.wait_run(prepared), headers=headers)


class RunStreamView(RunStartMixin, ProtocolView):
    def post(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        prepared = self.start(self, thread_id)
        if isinstance(prepared, QueuedRun):  # its parts from the log, once a worker runs it
            return follow_response(
                request,
                services.Follower(prepared.session.pk, run_id=prepared.run.pk),
                ProtocolFrames(prepared.stream_modes),
                run_headers(prepared.session, prepared.run_id, "stream"),
            )
        stream_resumable = bool(request.data.get("stream_resumable"))
        return event_stream_response(
            request,
            run_events(prepared, stream_resumable),
            run_headers(prepared.session, prepared.run_id, "stream"),
        )


def run_events(prepared: thread_runs.PreparedRun, with_ids: bool) -> Iterator[bytes]:
    """The run's parts as SSE frames; with `with_ids`, each with its event log id (what
    a rejoin sends back as Last-Event-ID)."""
    for mode, chunk, event_id in thread_runs.stream_run(prepared):
        yield sse(mode, chunk, event_id if with_ids else None)


class StatelessRunMixin(RunStartMixin):
    """`/runs/wait` and `/runs/stream`: a run on a new thread, deleted afterwards unless
    `on_completion` is "keep"."""

    def start_stateless(self, view: ProtocolView) -> tuple[thread_runs.PreparedRun, bool]:
        keep = view.request.data.get("on_completion") == "keep"
        definition = resolve_assistant(str(view.request.data.get("assistant_id", "")))
        session, _created = threads.create_thread(owner=view.actor(), graph_name=definition.name)
        try:
            return self.start(view, session.thread_id), keep
        except BaseException:
            threads.discard_thread(session)
            raise


class StatelessRunWaitView(StatelessRunMixin, ProtocolView):
    def post(self, request: Request) -> Response:
        prepared, keep = self.start_stateless(self)
        try:
            result = thread_runs.wait_run(prepared)
        finally:
            if not keep:
                threads.discard_thread(prepared.session)
        return Response(result)


class StatelessRunStreamView(StatelessRunMixin, ProtocolView):
    def post(self, request: Request) -> StreamingHttpResponse:
        prepared, keep = self.start_stateless(self)

        def events() -> Iterator[bytes]:
            try:
                yield from run_events(prepared, bool(request.data.get("stream_resumable")))
            finally:
                if not keep:
                    threads.discard_thread(prepared.session)

        return event_stream_response(
            request, events(), {"Content-Location": f"/runs/{prepared.run_id}"}
        )


class RunListView(RunStartMixin, ProtocolView):
    def get(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        try:
            limit = max(1, min(int(request.query_params.get("limit", 10)), 1000))
            offset = max(0, int(request.query_params.get("offset", 0)))
        except ValueError:
            raise InvalidInput(errors={"limit": "limit and offset are integers"}) from None
        rows = threads.thread_runs(session)
        wanted = request.query_params.get("status")
        if wanted:
            statuses = [k for k, v in shaping.RUN_STATUS.items() if v == wanted]
            rows = rows.filter(status__in=statuses)
        return Response([shaping.run(r, session) for r in rows[offset : offset + limit]])

    def post(self, request: Request, thread_id: str) -> Response:
        """`runs.create`: answer the pending Run now; a worker executes it."""
        prepared = self.start(self, thread_id, background=True)
        if isinstance(prepared, QueuedRun):
            body = shaping.run(prepared.run, prepared.session)
            headers = run_headers(prepared.session, prepared.run_id, "stream")
            return Response(body, headers=headers)
        delay = min(float(getattr(prepared, "after_seconds", None) or 0), 60.0)
        thread_runs.enqueue_prepared(prepared, delay=delay)
        body = shaping.run(prepared.run, prepared.session)
        return Response(body, headers=run_headers(prepared.session, prepared.run_id, "stream"))


class RunDetailView(ProtocolView):
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        session = self.thread(thread_id)
        return Response(shaping.run(threads.find_run(session, run_id), session))


def wait_for_run(run: Any) -> None:
    """Poll until `run` has finished (its row says so) or JOIN_WAIT_SECONDS pass."""
    deadline = time.monotonic() + JOIN_WAIT_SECONDS
    while run.status in (RunStatus.QUEUED, RunStatus.RUNNING) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        run.refresh_from_db()


class RunJoinView(ProtocolView):
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        session = self.thread(thread_id)
        run = threads.find_run(session, run_id)
        wait_for_run(run)
        return Response(thread_runs.run_result(session))


class RunJoinStreamView(ProtocolView):
    """Join a run's stream from the event log: its parts so far (after `Last-Event-ID`
    when given), then live ones until the run ends, wherever it runs."""

    def get(self, request: Request, thread_id: str, run_id: str) -> StreamingHttpResponse:
        session = self.thread(thread_id)
        run = threads.find_run(session, run_id)
        public_id = threads.run_uuid(run)
        after = request.headers.get("Last-Event-ID") or None
        try:
            follower = services.Follower(session.pk, after=after, run_id=run.pk)
        except services.InvalidEventId as exc:
            raise InvalidInput(errors={"Last-Event-ID": str(exc)}) from None
        return follow_response(
            request,
            follower,
            ProtocolFrames(
                [m for m in request.query_params.getlist("stream_mode") if m]  # SDK: "" = none
                or (thread_runs.logged_modes(session, run) if after else [])
            ),
            {"Content-Location": f"/threads/{thread_id}/runs/{public_id}"},
        )


class ProtocolFrames:
    """Logged parts as the protocol sends them: the modes the join asks for, else those
    the run's own client asked for; our own `end` closes the stream silently."""

    def __init__(self, modes: list[str]) -> None:
        self.modes = set(modes) | ({"messages"} if "messages-tuple" in modes else set())
        self.chosen = bool(modes)

    def __call__(self, event: Any) -> bytes:
        if event.event == thread_runs.MODES_EVENT:
            if not self.chosen:
                self.modes = set(event.data)
            return b""
        if event.event == END or event.event.startswith("__"):
            return b""
        if (
            event.event not in ("metadata", "error")
            and self.modes
            and event.event not in self.modes
        ):
            return b""
        return sse(event.event, event.data, event.id)


class RunCancelView(ProtocolView):
    def post(self, request: Request, thread_id: str, run_id: str) -> Response:
        session = self.thread(thread_id)
        run = threads.find_run(session, run_id)
        thread_runs.cancel_run(session, run)
        if request.query_params.get("wait", "").lower() in ("1", "true"):
            wait_for_run(run)
        return Response(status=status.HTTP_202_ACCEPTED)
