"""Views of the LangGraph server protocol: protocol JSON in, service calls, protocol JSON out.

Authentication, access, body limits and the error shape are the DRF API's
(`YamlgraphAPIView`), plus tokens in `Bearer`/`x-api-key` (see `auth`). Runs execute in
the request: `wait` answers when the run stops, `stream` sends its events as it runs;
`runs.create` answers at once and runs the graph right after the response is sent
(`RunAfterResponse`), until the run engine moves it to a worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from yamlgraph_django import registry, services
from yamlgraph_django.api import permissions
from yamlgraph_django.api.views import YamlgraphAPIView
from yamlgraph_django.exceptions import (
    GraphNotFound,
    InvalidInput,
    SessionNotFound,
    YamlgraphError,
)
from yamlgraph_django.models import GraphDefinition, RunStatus, Session
from yamlgraph_django.protocol import serializers, shaping
from yamlgraph_django.protocol.auth import ProtocolTokenAuthentication

threads = services.threads
thread_runs = services.thread_runs

#: How long a run asked to `enqueue` behind a busy thread waits for it in the request.
ENQUEUE_WAIT_SECONDS = 30.0
#: How long `join` and a joined stream wait for a run to finish.
JOIN_WAIT_SECONDS = 300.0
POLL_SECONDS = 0.1
HEARTBEAT_SECONDS = 5.0


class UnknownAssistant(YamlgraphError):
    """An assistant id that is neither a known assistant UUID nor a graph name (422)."""

    status_code = 422
    code = "assistant_not_found"


class ProtocolView(YamlgraphAPIView, APIView):
    """Base of every protocol view: JSON only, the API's auth plus protocol tokens."""

    renderer_classes = [JSONRenderer]
    schema = None  # LangGraph documents this protocol; the API's OpenAPI file leaves it out

    def get_authenticators(self) -> list[BaseAuthentication]:
        return [ProtocolTokenAuthentication(), *permissions.authenticators()]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        """JSON whatever `Accept` says: stream endpoints are asked for text/event-stream
        and answer errors (a 409, a 404) in JSON, as langgraph-api does."""
        return JSONRenderer(), JSONRenderer.media_type

    def body(self, serializer_class: type, data: Any = None) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data if data is None else data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def actor(self) -> Any:
        user = self.request.user
        return user if user is not None and user.is_authenticated else None

    def visible(self) -> QuerySet[Session]:
        queryset = Session.objects.select_related("graph", "owner")
        return permissions.visible_sessions(self.request.user, queryset, listing=False)

    def thread(self, thread_id: str) -> Session:
        """The caller's thread `thread_id`; someone else's is a 404 like an unknown one."""
        session = self.visible().filter(thread_id=thread_id).first()
        if session is None:
            raise SessionNotFound(f"Thread with ID {thread_id} not found")
        return session


def resolve_assistant(assistant_id: str) -> GraphDefinition:
    """The latest graph an assistant id names: its uuid5 id or the graph name itself."""
    try:
        wanted = str(uuid.UUID(str(assistant_id)))
    except ValueError:
        try:
            return registry.get_latest(str(assistant_id))
        except GraphNotFound:
            raise UnknownAssistant(
                f"Assistant '{assistant_id}' not found: neither an assistant id nor a graph name."
            ) from None
    for definition in registry.latest_definitions():
        if threads.assistant_id_of(definition.name) == wanted:
            return definition
    raise GraphNotFound(f"Assistant {assistant_id} not found")


def first_versions() -> dict[str, Any]:
    """When each graph name was first registered (an assistant's created_at)."""
    from django.db.models import Min

    rows = GraphDefinition.objects.values("name").annotate(first=Min("registered_at"))
    return {row["name"]: row["first"] for row in rows}


# --------------------------------------------------------------------------- server


class OkView(ProtocolView):
    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class InfoView(OkView):
    """What agent-chat-ui checks on load; it needs no token."""

    def get(self, request: Request) -> Response:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ours = version("yamlgraph-django")
        except PackageNotFoundError:  # pragma: no cover - run from a checkout
            ours = "0"
        return Response(
            {
                "version": ours,
                "server": "yamlgraph-django",
                "flags": {"assistants": True, "crons": False, "langsmith": False},
            }
        )


# --------------------------------------------------------------------------- assistants


class AssistantSearchView(ProtocolView):
    def post(self, request: Request) -> Response:
        data = self.body(serializers.AssistantSearchSerializer)
        definitions = list(registry.latest_definitions())
        created = first_versions()
        items = [shaping.assistant(d, created.get(d.name)) for d in definitions]
        if data.get("graph_id"):
            items = [a for a in items if a["graph_id"] == data["graph_id"]]
        if data.get("name"):
            items = [a for a in items if data["name"].lower() in a["name"].lower()]
        for key, value in (data.get("metadata") or {}).items():
            items = [a for a in items if a["metadata"].get(key) == value]
        sort_by = data.get("sort_by") or "created_at"
        if sort_by in ("assistant_id", "graph_id", "name", "created_at", "updated_at"):
            items.sort(key=lambda a: a[sort_by] or "", reverse=data.get("sort_order") != "asc")
        total = len(items)
        page = items[data["offset"] : data["offset"] + data["limit"]]
        if data.get("select"):
            page = [{k: a[k] for k in data["select"] if k in a} for a in page]
        return Response(page, headers=pagination(total, data["offset"], len(page)))


class AssistantCountView(ProtocolView):
    def post(self, request: Request) -> Response:
        data = self.body(serializers.AssistantSearchSerializer)
        names = registry.latest_definitions().values_list("name", flat=True)
        if data.get("graph_id"):
            names = [n for n in names if n == data["graph_id"]]
        return Response(len(list(names)))


class AssistantDetailView(ProtocolView):
    def get(self, request: Request, assistant_id: str) -> Response:
        definition = resolve_assistant(assistant_id)
        return Response(shaping.assistant(definition, first_versions().get(definition.name)))


class AssistantGraphView(ProtocolView):
    def get(self, request: Request, assistant_id: str) -> Response:
        definition = resolve_assistant(assistant_id)
        raw = request.query_params.get("xray", "false").lower()
        xray: bool | int = int(raw) if raw.isdigit() else raw in ("true", "1")
        return Response(threads.assistant_graph(definition, xray=xray))


class AssistantSchemasView(ProtocolView):
    def get(self, request: Request, assistant_id: str) -> Response:
        definition = resolve_assistant(assistant_id)
        schema = threads.state_json_schema(definition)
        return Response(
            {
                "graph_id": definition.name,
                "input_schema": schema,
                "output_schema": schema,
                "state_schema": schema,
                "config_schema": None,
                "context_schema": None,
            }
        )


class AssistantSubgraphsView(ProtocolView):
    def get(self, request: Request, assistant_id: str, namespace: str | None = None) -> Response:
        resolve_assistant(assistant_id)
        return Response({})


# --------------------------------------------------------------------------- threads


def pagination(total: int, offset: int, count: int) -> dict[str, str]:
    headers = {"X-Pagination-Total": str(total)}
    if offset + count < total:
        headers["X-Pagination-Next"] = str(offset + count)
    return headers


def graph_named(name: Any) -> str | None:
    """`name` if a graph of that name is registered (thread metadata's graph_id)."""
    if not isinstance(name, str) or not name:
        return None
    return name if registry.latest_definitions().filter(name=name).exists() else None


class ThreadCreateView(ProtocolView):
    def post(self, request: Request) -> Response:
        data = self.body(serializers.ThreadCreateSerializer)
        metadata = dict(data.get("metadata") or {})
        if data.get("graph_id"):
            metadata["graph_id"] = data["graph_id"]
        session, created = threads.create_thread(
            owner=self.actor(),
            thread_id=data.get("thread_id"),
            metadata=metadata,
            graph_name=graph_named(metadata.get("graph_id")),
            if_exists=data["if_exists"],
        )
        if not created and not self.visible().filter(pk=session.pk).exists():
            raise threads.ThreadExists(f"Thread {session.thread_id} exists already.")
        return Response(shaping.thread(session))


class ThreadSearchView(ProtocolView):
    SORTS = {"thread_id", "status", "created_at", "updated_at", "state_updated_at"}

    def matching(self, data: dict[str, Any]) -> QuerySet[Session]:
        queryset = permissions.visible_sessions(
            self.request.user, Session.objects.select_related("graph", "owner"), listing=True
        )
        wanted = data.get("status")
        queryset = threads.search_threads(
            threads.with_activity(queryset),
            metadata=data.get("metadata"),
            ids=data.get("ids"),
            statuses=shaping.SESSION_STATUSES[wanted] if wanted else None,
            values=data.get("values"),
        )
        if wanted == "idle":
            queryset = queryset.exclude(status="pending", has_active_run=True)
        elif wanted == "busy":
            queryset = queryset.exclude(status="pending", has_active_run=False)
        return queryset

    def post(self, request: Request) -> Response:
        data = self.body(serializers.ThreadSearchSerializer)
        queryset = self.matching(data)
        sort_by = data.get("sort_by") or "updated_at"
        if sort_by not in self.SORTS:
            sort_by = "updated_at"
        column = {"state_updated_at": "updated_at"}.get(sort_by, sort_by)
        descending = data.get("sort_order") != "asc"
        queryset = queryset.order_by(f"-{column}" if descending else column, "pk")
        total = queryset.count()
        offset, limit = data["offset"], data["limit"]
        page = [shaping.thread(s) for s in queryset[offset : offset + limit]]
        if data.get("select"):
            page = [{k: t[k] for k in data["select"] if k in t} for t in page]
        return Response(page, headers=pagination(total, offset, len(page)))


class ThreadCountView(ThreadSearchView):
    def post(self, request: Request) -> Response:
        return Response(self.matching(self.body(serializers.ThreadSearchSerializer)).count())


class ThreadDetailView(ProtocolView):
    def get(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        return Response(shaping.thread(session, threads.thread_state(session)))

    def patch(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        data = self.body(serializers.ThreadPatchSerializer)
        session = threads.update_thread(session, data.get("metadata"))
        return Response(shaping.thread(session))

    def delete(self, request: Request, thread_id: str) -> Response:
        threads.delete_thread(self.thread(thread_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ThreadCopyView(ProtocolView):
    def post(self, request: Request, thread_id: str) -> Response:
        copy = threads.copy_thread(self.thread(thread_id), owner=self.actor())
        return Response(shaping.thread(copy))


class ThreadStateView(ProtocolView):
    def get(self, request: Request, thread_id: str, checkpoint_id: str | None = None) -> Response:
        session = self.thread(thread_id)
        subgraphs = request.query_params.get("subgraphs", "").lower() in ("true", "1")
        return Response(threads.thread_state(session, checkpoint_id, subgraphs=subgraphs))

    def post(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        data = self.body(serializers.StateUpdateSerializer)
        checkpoint_id = data.get("checkpoint_id") or (data.get("checkpoint") or {}).get(
            "checkpoint_id"
        )
        result = threads.update_thread_state(
            session, data.get("values"), as_node=data.get("as_node"), checkpoint_id=checkpoint_id
        )
        return Response(result)


class ThreadStateAtCheckpointView(ProtocolView):
    def post(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        data = self.body(serializers.StateAtCheckpointSerializer)
        checkpoint_id = data["checkpoint"].get("checkpoint_id")
        return Response(threads.thread_state(session, checkpoint_id, subgraphs=data["subgraphs"]))


class ThreadHistoryView(ProtocolView):
    def get(self, request: Request, thread_id: str) -> Response:
        data = self.body(serializers.HistorySerializer, request.query_params.dict())
        return self.history(thread_id, data)

    def post(self, request: Request, thread_id: str) -> Response:
        return self.history(thread_id, self.body(serializers.HistorySerializer))

    def history(self, thread_id: str, data: dict[str, Any]) -> Response:
        session = self.thread(thread_id)
        return Response(
            threads.thread_history(
                session,
                limit=data["limit"],
                before=data.get("before"),
                metadata=data.get("metadata"),
                checkpoint=data.get("checkpoint"),
            )
        )


# --------------------------------------------------------------------------- runs


class RunAfterResponse(Response):
    """A response that runs `after` once it has been sent (WSGI/ASGI call `close()`
    after the last byte): how `runs.create` runs in the background today."""

    def __init__(self, data: Any, *, after: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.after = after

    def close(self) -> None:
        try:
            self.after()
        finally:
            super().close()


def run_headers(session: Session, run_id: str, tail: str) -> dict[str, str]:
    base = f"/threads/{session.thread_id}/runs/{run_id}"
    return {"Content-Location": base, "Location": f"{base}/{tail}"}


class RunStartMixin:
    """Check a run body, find or create the thread, and claim it for the run."""

    def start(
        self, view: ProtocolView, thread_id: str, *, background: bool = False
    ) -> thread_runs.PreparedRun:
        data = view.body(serializers.RunCreateSerializer)
        definition = resolve_assistant(data["assistant_id"])
        session = view.visible().filter(thread_id=thread_id).first()
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
        deadline = time.monotonic() + ENQUEUE_WAIT_SECONDS
        while True:
            try:
                prepared = thread_runs.prepare_run(
                    session, request, actor=view.actor(), background=background
                )
            except threads.ThreadBusy:
                if strategy == "reject" or time.monotonic() >= deadline:
                    raise
                if strategy in ("interrupt", "rollback"):
                    # Stop the running run at its next step (its checkpoints stay), then
                    # run this one; `rollback` keeps them too (a MAY we do not do).
                    thread_runs.request_stop(session)
                time.sleep(POLL_SECONDS)
                continue
            prepared.after_seconds = data.get("after_seconds")  # type: ignore[attr-defined]
            return prepared


class RunWaitView(RunStartMixin, ProtocolView):
    def post(self, request: Request, thread_id: str) -> Response:
        prepared = self.start(self, thread_id)
        result = thread_runs.wait_run(prepared)
        return Response(result, headers=run_headers(prepared.session, prepared.run_id, "join"))


class RunStreamView(RunStartMixin, ProtocolView):
    def post(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        prepared = self.start(self, thread_id)
        stream_resumable = bool(request.data.get("stream_resumable"))
        return event_stream(
            run_events(prepared, stream_resumable),
            run_headers(prepared.session, prepared.run_id, "stream"),
        )


def run_events(prepared: thread_runs.PreparedRun, with_ids: bool) -> Iterator[bytes]:
    counter = 0

    def frame(event: str, data: Any) -> bytes:
        nonlocal counter
        counter += 1
        return shaping.sse(event, data, str(counter) if with_ids else None)

    yield frame("metadata", {"run_id": prepared.run_id, "attempt": 1})
    for mode, chunk in thread_runs.stream_run(prepared):
        yield frame(mode, chunk)


def event_stream(events: Iterator[bytes], headers: dict[str, str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    for name, value in headers.items():
        response[name] = value
    return response


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
            threads.delete_thread(session)
            raise


class StatelessRunWaitView(StatelessRunMixin, ProtocolView):
    def post(self, request: Request) -> Response:
        prepared, keep = self.start_stateless(self)
        try:
            result = thread_runs.wait_run(prepared)
        finally:
            if not keep:
                threads.delete_thread(prepared.session)
        return Response(result)


class StatelessRunStreamView(StatelessRunMixin, ProtocolView):
    def post(self, request: Request) -> StreamingHttpResponse:
        prepared, keep = self.start_stateless(self)

        def events() -> Iterator[bytes]:
            try:
                yield from run_events(prepared, bool(request.data.get("stream_resumable")))
            finally:
                if not keep:
                    threads.delete_thread(prepared.session)

        return event_stream(events(), {"Content-Location": f"/runs/{prepared.run_id}"})


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
        if wanted == "interrupted":
            rows = rows.filter(status=RunStatus.FAILED, error=shaping.CANCELLED)
        elif wanted:
            statuses = [k for k, v in shaping.RUN_STATUS.items() if v == wanted]
            rows = rows.filter(status__in=statuses).exclude(error=shaping.CANCELLED)
        return Response([shaping.run(r, session) for r in rows[offset : offset + limit]])

    def post(self, request: Request, thread_id: str) -> Response:
        """`runs.create`: answer the pending Run now, execute it once the answer is sent."""
        prepared = self.start(self, thread_id, background=True)
        delay = min(float(getattr(prepared, "after_seconds", None) or 0), 60.0)

        def execute() -> None:
            if delay:
                time.sleep(delay)
            thread_runs.run_prepared_in_background(prepared)

        body = shaping.run(prepared.run, prepared.session)
        return RunAfterResponse(
            body, after=execute, headers=run_headers(prepared.session, prepared.run_id, "stream")
        )


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
    """Join a run's stream. Without the run engine's event log there is nothing to
    replay: the joined stream waits for the run (with heartbeats) and then sends the
    thread's final `values`, so `joinStream` and reconnects still see the result."""

    def get(self, request: Request, thread_id: str, run_id: str) -> StreamingHttpResponse:
        session = self.thread(thread_id)
        run = threads.find_run(session, run_id)
        public_id = threads.run_uuid(run)

        def events() -> Iterator[bytes]:
            yield shaping.sse("metadata", {"run_id": public_id, "attempt": 1})
            deadline = time.monotonic() + JOIN_WAIT_SECONDS
            last = time.monotonic()
            while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
                if time.monotonic() > deadline:
                    return
                time.sleep(POLL_SECONDS)
                run.refresh_from_db()
                if time.monotonic() - last > HEARTBEAT_SECONDS:
                    last = time.monotonic()
                    yield b": heartbeat\r\n\r\n"
            result = thread_runs.run_result(session)
            if "__error__" in result:
                yield shaping.sse("error", result["__error__"])
            else:
                yield shaping.sse("values", result)

        return event_stream(
            events(), {"Content-Location": f"/threads/{thread_id}/runs/{public_id}"}
        )


class RunCancelView(ProtocolView):
    def post(self, request: Request, thread_id: str, run_id: str) -> Response:
        session = self.thread(thread_id)
        run = threads.find_run(session, run_id)
        thread_runs.cancel_run(session, run)
        if request.query_params.get("wait", "").lower() in ("1", "true"):
            wait_for_run(run)
        return Response(status=status.HTTP_202_ACCEPTED)
