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
from yamlgraph_django.api.throttles import throttles_for_run
from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import InvalidInput, NoWorker, SessionNotFound
from yamlgraph_django.http_streams import event_stream_response, follow_response, sse
from yamlgraph_django.models import Run, RunStatus, Session
from yamlgraph_django.protocol import serializers, shaping
from yamlgraph_django.protocol.events_mode import SOURCE_MODES, EventsMode
from yamlgraph_django.protocol.stream_modes import stream_modes_of
from yamlgraph_django.protocol.views import ProtocolView, resolve_assistant
from yamlgraph_django.services.run_events import END
from yamlgraph_django.services.run_request import RunRequest

engine = services.engine
threads = services.threads
thread_runs = services.thread_runs

#: How often a waiting request looks whether a worker is still alive.
WORKER_LOOK_SECONDS = 1.0


def wait_seconds() -> float:
    """How long a request waits for a run (to finish, or to free its thread) before it
    answers: YAMLGRAPH["WAIT_SECONDS"], below the app server's own timeout, so the
    client gets JSON, never the server's HTML 500."""
    return float(app_settings.WAIT_SECONDS)


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

    def get_throttles(self) -> list[Any]:
        """Runs are rate-limited per user like the API's start and resume (429)."""
        if self.request.method == "POST":  # type: ignore[attr-defined]
            return throttles_for_run(self.request.data)  # type: ignore[attr-defined]
        return super().get_throttles()  # type: ignore[misc]

    def start(
        self,
        view: ProtocolView,
        thread_id: str,
        *,
        background: bool = False,
        wait: bool = False,
    ) -> engine.PreparedRun | QueuedRun:
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
        request = RunRequest(
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
            multitask_strategy=data.get("multitask_strategy") or "enqueue",
            webhook=data.get("webhook"),
        )
        submitted = thread_runs.submit_run(
            session,
            request,
            actor=view.actor(),
            background=background,
            in_request=wait,
            wait=wait,
        )
        if isinstance(submitted, Run):  # queued behind the thread's current run
            return QueuedRun(session, submitted, list(request.stream_modes))
        submitted.after_seconds = data.get("after_seconds")  # type: ignore[attr-defined]
        return submitted


class RunWaitView(RunStartMixin, ProtocolView):
    def post(self, request: Request, thread_id: str) -> Response:
        prepared = self.start(self, thread_id, wait=True)
        headers = run_headers(prepared.session, prepared.run_id, "join")
        if isinstance(prepared, QueuedRun):  # its result, once a worker has run it
            if not wait_for_run(prepared.run):
                return still_running(prepared.run, prepared.session)
            return Response(thread_runs.run_result(prepared.session), headers=headers)
        return Response(prepared.result, headers=headers)


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


def run_events(prepared: engine.PreparedRun, with_ids: bool) -> Iterator[bytes]:
    """The run's parts as SSE frames; with `with_ids`, each with its event log id (what
    a rejoin sends back as Last-Event-ID). `events` (astream_events-shaped) is made from
    the run's values, updates and token chunks, which it then produces too."""
    asked = list(prepared.request.stream_modes or ["values"])
    shown = set(asked) - {"messages"} | ({"messages"} if "messages-tuple" in asked else set())
    events = EventsMode(prepared.session.graph.name) if "events" in asked else None
    if events is not None:
        prepared.request.stream_modes = list(dict.fromkeys([*asked, *SOURCE_MODES]))
    for mode, chunk, event_id in engine.stream_run(prepared):
        if mode in shown or mode in ("metadata", "error"):
            yield sse(mode, chunk, event_id if with_ids else None)
        if events is not None:
            for event in events.of(mode, chunk):
                yield sse("events", event)
    if events is not None:
        for event in events.of(END, None):
            yield sse("events", event)


class StatelessRunMixin(RunStartMixin):
    """`/runs/wait` and `/runs/stream`: a run on a new thread, deleted afterwards unless
    `on_completion` is "keep"."""

    def start_stateless(
        self, view: ProtocolView, *, wait: bool = False
    ) -> tuple[engine.PreparedRun, bool]:
        """The run on its new thread (run to its end with `wait`), and whether to keep
        the thread; a refused or failed start removes the thread."""
        keep = view.request.data.get("on_completion") == "keep"
        definition = resolve_assistant(str(view.request.data.get("assistant_id", "")))
        session, _created = threads.create_thread(owner=view.actor(), graph_name=definition.name)
        try:
            return self.start(view, session.thread_id, wait=wait), keep
        except BaseException:
            threads.discard_thread(session)
            raise


class StatelessRunWaitView(StatelessRunMixin, ProtocolView):
    def post(self, request: Request) -> Response:
        prepared, keep = self.start_stateless(self, wait=True)
        if not keep:
            threads.discard_thread(prepared.session)
        return Response(prepared.result)


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
        engine.enqueue_prepared(prepared, delay=delay)
        body = shaping.run(prepared.run, prepared.session)
        return Response(body, headers=run_headers(prepared.session, prepared.run_id, "stream"))


class RunDetailView(ProtocolView):
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        session = self.thread(thread_id)
        return Response(shaping.run(threads.find_run(session, run_id), session))


def wait_for_run(run: Any) -> bool:
    """Wait (`engine.wait_for_end`) until `run` has finished (its row says so) or
    WAIT_SECONDS pass; True if it finished. NoWorker as soon as it sits queued with no
    worker alive."""
    looked = [0.0]

    def ended() -> bool:
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            run.refresh_from_db()
        return run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)

    def look_for_a_worker() -> None:
        if run.status == RunStatus.QUEUED and time.monotonic() - looked[0] >= WORKER_LOOK_SECONDS:
            looked[0] = time.monotonic()
            notice = services.workers.queued_notice(run)
            if notice is not None:
                raise NoWorker(f"Run {threads.run_uuid(run)} is {notice.detail}.")

    if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return True
    return engine.wait_for_end(run.session_id, ended, wait_seconds(), on_wake=look_for_a_worker)


class RunJoinView(ProtocolView):
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        """The thread's values once the run ends; while it still runs after WAIT_SECONDS,
        202 with the run (join again); 503 `no_worker` for a run no worker will take."""
        session = self.thread(thread_id)
        run = threads.find_run(session, run_id)
        if not wait_for_run(run):
            return still_running(run, session)
        return Response(thread_runs.run_result(session))


def still_running(run: Run, session: Session) -> Response:
    """202 with the run, for a run still queued or running after WAIT_SECONDS: the
    client joins it again (the request never outlives the app server's timeout)."""
    session.refresh_from_db()
    body = {
        **shaping.run(run, session),
        "detail": f"the run is still {shaping.RUN_STATUS.get(run.status, run.status)} "
        f"after {wait_seconds():g} s; join again",
    }
    headers = {"Retry-After": "1", **run_headers(session, threads.run_uuid(run), "join")}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


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
                stream_modes_of(request.query_params)
                or (thread_runs.logged_modes(session, run) if after else []),
                session.graph.name if session.graph_id else "",
            ),
            {"Content-Location": f"/threads/{thread_id}/runs/{public_id}"},
        )


class ProtocolFrames:
    """Logged parts as the protocol sends them: the modes the join asks for, else those
    the run's own client asked for (`events` made from the parts); our own `end`
    closes the stream silently."""

    def __init__(self, modes: list[str], graph_name: str = "") -> None:
        self.chosen = bool(modes)
        self.graph_name = graph_name
        self.events: EventsMode | None = None
        self.choose(modes)

    def choose(self, modes: Any) -> None:
        self.modes = set(modes) | ({"messages"} if "messages-tuple" in modes else set())
        if "events" in self.modes and self.events is None:
            self.events = EventsMode(self.graph_name)

    def __call__(self, event: Any) -> bytes:
        if event.event == engine.MODES_EVENT:
            if not self.chosen:
                self.choose(event.data)
            return b""
        made = b""
        if self.events is not None:
            made = b"".join(sse("events", e) for e in self.events.of(event.event, event.data))
        if event.event == END or event.event.startswith("__"):
            return made
        if (
            event.event not in ("metadata", "error")
            and self.modes
            and event.event not in self.modes
        ):
            return made
        return sse(event.event, event.data, event.id) + made


class RunCancelView(ProtocolView):
    def post(self, request: Request, thread_id: str, run_id: str) -> Response:
        session = self.thread(thread_id)
        run = threads.find_run(session, run_id)
        thread_runs.cancel_run(session, run, actor=self.actor())
        if request.query_params.get("wait", "").lower() in ("1", "true"):
            wait_for_run(run)
        return Response(status=status.HTTP_202_ACCEPTED)
