"""Views of the LangGraph server protocol: protocol JSON in, service calls, protocol JSON out.

Authentication, access, body limits and the error shape are the DRF API's
(`YamlgraphAPIView`), plus tokens in `Bearer`/`x-api-key` (see `auth`). Runs execute in
the request (see `runs`, the run views).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.views.decorators.csrf import csrf_exempt
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
    SessionNotFound,
    YamlgraphError,
)
from yamlgraph_django.models import GraphDefinition, Session
from yamlgraph_django.protocol import serializers, shaping
from yamlgraph_django.protocol.auth import ProtocolTokenAuthentication

threads = services.threads
thread_runs = services.thread_runs


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
        """Who acts: the rulebook (services.rules) decides; AnonymousUser when logged out."""
        return self.request.user

    def visible(self) -> QuerySet[Session]:
        queryset = Session.objects.select_related("graph", "owner")
        return permissions.visible_sessions(self.request.user, queryset, listing=False)

    def thread(self, thread_id: str) -> Session:
        """The caller's thread `thread_id`; someone else's is a 404 like an unknown one.
        An assignee of its open question sees it too (the rulebook's view rule); what
        they may do with it, the service asks the rulebook."""
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
        """`{"ok": true}` as langgraph-api answers, plus the health report of
        `/api/health/` (503 with `"ok": false` when a part is down)."""
        from yamlgraph_django.api.health import health_response

        response = health_response(request)
        response.data = {"ok": response.status_code == 200, **response.data}
        return response


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
                "flags": {"assistants": True, "crons": True, "langsmith": False},
            }
        )


@csrf_exempt
def not_found(request: Any, path: str = "") -> Any:
    """Any other path under the protocol's prefix: a JSON 404 (DEBUG or not), as
    LangGraph clients parse error bodies as JSON."""
    from django.http import JsonResponse

    body = {"detail": f"Not found: {request.path} is no LangGraph endpoint", "code": "not_found"}
    return JsonResponse(body, status=404)


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
        return Response(shaping.thread(session))


class ThreadSearchView(ProtocolView):
    SORTS = {"thread_id", "status", "created_at", "updated_at", "state_updated_at"}

    def matching(self, data: dict[str, Any]) -> QuerySet[Session]:
        queryset = permissions.visible_sessions(
            self.request.user,
            Session.objects.select_related("graph", "owner"),
            listing=True,  # with the threads the caller must answer (agent-inbox)
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
        return Response(shaping.thread(session, threads.thread_state(session, actor=self.actor())))

    def patch(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        data = self.body(serializers.ThreadPatchSerializer)
        session = threads.update_thread(session, data.get("metadata"), actor=self.actor())
        return Response(shaping.thread(session))

    def delete(self, request: Request, thread_id: str) -> Response:
        threads.delete_thread(self.thread(thread_id), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ThreadCopyView(ProtocolView):
    def post(self, request: Request, thread_id: str) -> Response:
        copy = threads.copy_thread(self.thread(thread_id), owner=self.actor())
        return Response(shaping.thread(copy))


class ThreadStateView(ProtocolView):
    def get(self, request: Request, thread_id: str, checkpoint_id: str | None = None) -> Response:
        session = self.thread(thread_id)
        subgraphs = request.query_params.get("subgraphs", "").lower() in ("true", "1")
        return Response(
            threads.thread_state(session, checkpoint_id, subgraphs=subgraphs, actor=self.actor())
        )

    def post(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        data = self.body(serializers.StateUpdateSerializer)
        checkpoint_id = data.get("checkpoint_id") or (data.get("checkpoint") or {}).get(
            "checkpoint_id"
        )
        result = threads.update_thread_state(
            session,
            data.get("values"),
            as_node=data.get("as_node"),
            checkpoint_id=checkpoint_id,
            actor=self.actor(),
        )
        return Response(result)


class ThreadStateAtCheckpointView(ProtocolView):
    def post(self, request: Request, thread_id: str) -> Response:
        session = self.thread(thread_id)
        data = self.body(serializers.StateAtCheckpointSerializer)
        checkpoint_id = data["checkpoint"].get("checkpoint_id")
        return Response(
            threads.thread_state(
                session, checkpoint_id, subgraphs=data["subgraphs"], actor=self.actor()
            )
        )


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
                actor=self.actor(),
            )
        )
