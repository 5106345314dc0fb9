"""The API's viewsets: graphs (read-only) and sessions (start, read, answer, cancel, delete).

Views translate HTTP to calls of the session service and back; they never run a graph
or open a checkpointer themselves (DESIGN 2). Everything the API needs from DRF is set
here on `YamlgraphAPIView` (authentication, permissions, parsers, the error handler), so
the app works the same whatever the project's REST_FRAMEWORK says about its own views.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from yamlgraph.mermaid import to_mermaid
from yamlgraph_django import registry, services
from yamlgraph_django.api import permissions
from yamlgraph_django.api.exceptions import RequestTooLarge, api_exception_handler
from yamlgraph_django.api.filters import SessionFilter
from yamlgraph_django.api.pagination import SessionPagination
from yamlgraph_django.api.parsers import NUL, JSONBodyParser, refuse_unstorable
from yamlgraph_django.api.renderers import EventStreamRenderer
from yamlgraph_django.api.schema import (
    BUSY_OR_DONE,
    GRAPH_FILTER,
    INVALID,
    METADATA_FILTER,
    NOT_FOUND,
    SESSION_ID,
    THROTTLED,
    TOO_LARGE,
    UNAUTHENTICATED,
    UNAVAILABLE,
    error_response,
)
from yamlgraph_django.api.serializers import (
    CheckpointSerializer,
    GraphDetailSerializer,
    GraphSummarySerializer,
    HistoryQuerySerializer,
    SessionCreateSerializer,
    SessionResumeSerializer,
    SessionSerializer,
    SessionSummarySerializer,
    StreamQuerySerializer,
    session_body,
)
from yamlgraph_django.api.throttles import ResumeThrottle, StartThrottle
from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import GraphNotFound, InvalidInput
from yamlgraph_django.http_streams import follow_response, sse
from yamlgraph_django.models import GraphDefinition, RunChannel, Session, SessionStatus

logger = logging.getLogger("yamlgraph_django.api")


class YamlgraphAPIView:
    """What every API view shares: auth, access, JSON bodies capped in size, one error shape.

    A mixin for DRF views (it overrides APIView hooks), kept first in the MRO.
    """

    parser_classes = [JSONBodyParser]

    def get_authenticators(self) -> list[BaseAuthentication]:
        return permissions.authenticators()

    def get_permissions(self) -> list[BasePermission]:
        return permissions.permissions()

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    def handle_exception(self, exc: Exception) -> Response:
        """An error is JSON even for a client that asked for text/event-stream (an
        EventSource does): its 400 or 404 must still say what went wrong."""
        response = super().handle_exception(exc)  # type: ignore[misc]
        if isinstance(getattr(self.request, "accepted_renderer", None), EventStreamRenderer):
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication, refuse what must never reach the service: a body over
        MAX_REQUEST_BYTES (413, before it is read) and NUL characters in the URL or query
        string, which PostgreSQL cannot compare (bodies are checked by the parser)."""
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = int(app_settings.MAX_REQUEST_BYTES)
        if length > limit:
            raise RequestTooLarge(f"The request body is {length} bytes; the limit is {limit}.")
        if any(NUL in str(value) for value in kwargs.values()):
            raise NotFound()  # no graph name or session id contains one
        params = request.query_params
        refuse_unstorable({key: NUL for key in params if NUL in key + "".join(params.getlist(key))})


# --------------------------------------------------------------------------- graphs


@extend_schema_view(
    list=extend_schema(
        summary="List graphs",
        description="The latest version of every registered graph, by name.",
        responses={200: GraphSummarySerializer(many=True), 401: UNAUTHENTICATED},
    ),
    retrieve=extend_schema(
        summary="Describe a graph",
        description="The latest version of one graph: its state fields (what `input` may "
        "contain, with types), nodes, edges, a Mermaid diagram and the type of "
        "checkpointer its sessions use.",
        responses={
            200: GraphDetailSerializer,
            401: UNAUTHENTICATED,
            404: error_response(
                "No graph of that name (`graph_not_found`); the message lists them."
            ),
        },
    ),
)
class GraphViewSet(YamlgraphAPIView, viewsets.GenericViewSet):
    """Registered graphs, read-only; a graph is addressed by its name."""

    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    serializer_class = GraphSummarySerializer
    pagination_class = None
    queryset = GraphDefinition.objects.none()  # for schema introspection only

    def get_queryset(self) -> QuerySet[GraphDefinition]:
        return registry.latest_definitions()

    def list(self, request: Request) -> Response:
        serializer = GraphSummarySerializer(self.get_queryset(), many=True)
        return Response(serializer.data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        definition = latest_graph(kwargs[self.lookup_field])
        config = services.graph_config(definition)
        # Shown on the serializer as attributes of the definition, like model fields.
        definition.state_fields = list(config.public_state_fields.values())
        definition.nodes = [
            {"name": node.name, "type": node.type, "description": str(node.get("description", ""))}
            for node in config.nodes.values()
        ]
        definition.edges = config.edges
        definition.mermaid = to_mermaid(config)
        # The type only: a checkpointer block's url or path may carry credentials.
        definition.checkpointer = services.checkpointer_type(definition)
        return Response(GraphDetailSerializer(definition).data)


def latest_graph(name: str) -> GraphDefinition:
    """The latest version of `name`; the 404 names the graphs that do exist."""
    try:
        return registry.get_latest(name)
    except GraphNotFound as exc:
        known = list(registry.latest_definitions().values_list("name", flat=True))
        listing = ", ".join(known) if known else "none are registered"
        raise GraphNotFound(f"{exc.detail} Known graphs: {listing}.", name=name) from None


# --------------------------------------------------------------------------- sessions


@extend_schema_view(
    list=extend_schema(
        summary="List your sessions",
        description="Your sessions, newest first (staff and holders of "
        "`yamlgraph_django.view_all_sessions` see everyone's). Rows come from the "
        "database only: `values` is the final output (null until completed) and there "
        "is no `next`; GET a session for its live state.",
        parameters=[GRAPH_FILTER, METADATA_FILTER],
        responses={
            200: SessionSummarySerializer(many=True),
            400: INVALID,
            401: UNAUTHENTICATED,
            404: error_response("No such page (`not_found`)."),
        },
    ),
    retrieve=extend_schema(
        summary="Read a session",
        description="The session with its current `values`, the `next` nodes and the "
        "pending `interrupts` (questions), read from the checkpointer.",
        parameters=[SESSION_ID],
        responses={
            200: SessionSerializer,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
            503: UNAVAILABLE,
        },
    ),
    create=extend_schema(
        summary="Start a session",
        description="Start the latest version of `graph` with `input` and run it until it "
        "asks a question (status `interrupted`, see `interrupts`) or ends (`completed`, "
        "see `values`). A graph error answers 201 with status `failed` and `error`: the "
        "session exists and can be retried. With `background` (or RUN_MODE "
        "`background`) the run is queued and the answer is 202.",
        request=SessionCreateSerializer,
        responses={
            201: OpenApiResponse(SessionSerializer, description="Started and run."),
            202: OpenApiResponse(SessionSerializer, description="Queued (background run)."),
            (200, "text/event-stream"): OpenApiResponse(
                description="With `stream`: the run's events as Server-Sent Events.",
                response=OpenApiTypes.ANY,
            ),
            400: INVALID,
            401: UNAUTHENTICATED,
            404: error_response(
                "No graph of that name (`graph_not_found`); the message lists them."
            ),
            413: TOO_LARGE,
            429: THROTTLED,
            503: UNAVAILABLE,
        },
        examples=[
            OpenApiExample(
                "Start an interview",
                value={"graph": "interview", "input": {"topic": "Django"}, "metadata": {}},
                request_only=True,
            )
        ],
    ),
    destroy=extend_schema(
        summary="Delete a session",
        description="Delete the session, its audit trail and its checkpoints.",
        parameters=[SESSION_ID],
        responses={
            204: OpenApiResponse(description="Deleted."),
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
            409: error_response("The session is running (`session_busy`); cancel it or wait."),
            503: UNAVAILABLE,
        },
    ),
)
class SessionViewSet(
    YamlgraphAPIView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Sessions the caller may see (see api.permissions); everyone else's are 404."""

    lookup_field = "id"
    lookup_value_regex = "[^/]+"  # any id reaches the view: a malformed one is a JSON 404
    serializer_class = SessionSerializer
    pagination_class = SessionPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = SessionFilter
    queryset = Session.objects.none()  # for schema introspection only

    def get_queryset(self) -> QuerySet[Session]:
        queryset = (
            Session.objects.select_related("graph", "owner")
            .filter(graph__isnull=False)  # LangGraph threads that have not run yet
            .order_by("-created_at", "id")
        )
        return permissions.visible_sessions(
            self.request.user,
            queryset,
            listing=self.action == "list",
        )

    def get_object(self) -> Session:
        """The one session of a detail route, read once with what the permission and the
        answer need: no list queryset and no filter backends (they are for the list)."""
        return permissions.one_session(self.request.user, self.kwargs[self.lookup_field])

    def get_throttles(self) -> list[Any]:
        """Start and resume are rate-limited per user (THROTTLE_RATES; 429)."""
        if self.action == "create":
            return [StartThrottle()]
        if self.action == "resume":
            return [ResumeThrottle()]
        return super().get_throttles()

    def get_serializer_class(self) -> type:
        if self.action == "list":
            return SessionSummarySerializer
        return SessionSerializer

    def _actor(self) -> Any:
        """Who acts: the rulebook (services.rules) decides; AnonymousUser when logged out."""
        return self.request.user

    def _session_response(self, session: Session, code: int = status.HTTP_200_OK) -> Response:
        """The session with its live state (values, next, interrupts) from the checkpointer."""
        state = services.get_state(session, actor=self._actor())
        response = Response(session_body(session, state), status=code)
        response["ETag"] = f'"{session.revision}"'
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._session_response(self.get_object())

    def create(self, request: Request) -> Response:
        body = SessionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        definition = latest_graph(data["graph"])
        background = data.get("background")
        try:
            session = services.start_session(
                definition,
                data["input"],
                owner=self._actor(),
                metadata=data["metadata"],
                thread_id=data.get("thread_id"),
                channel=RunChannel.API,
                background=background,
                stream=data["stream"],
                webhook=data.get("webhook"),
            )
        except InvalidInput as exc:
            raise nest_input_errors(exc, body_fields=set(body.fields)) from None
        if data["stream"]:
            return self._run_stream(session, session.queued_run.pk, None)
        queued = background if background is not None else is_background_default()
        code = status.HTTP_202_ACCEPTED if queued else status.HTTP_201_CREATED
        return self._session_response(session, code)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.delete_session(self.get_object(), actor=self._actor())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Answer a session",
        description="Answer the pending question and run on to the next question or the "
        'end. `{"value": X}` answers the one pending interrupt; `{"values": {id: X}}` '
        "answers several (ids from `interrupts`). A `failed` session is retried: with "
        "`{}` from its last checkpoint, with a value by answering its last question "
        "again. With `background` (or RUN_MODE `background`) the answer is 202.",
        parameters=[SESSION_ID],
        request=SessionResumeSerializer,
        responses={
            200: OpenApiResponse(SessionSerializer, description="Answered and run."),
            202: OpenApiResponse(SessionSerializer, description="Queued (background run)."),
            400: INVALID,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
            409: BUSY_OR_DONE,
            413: TOO_LARGE,
            429: THROTTLED,
            503: UNAVAILABLE,
        },
        examples=[
            OpenApiExample("One answer", value={"value": "Ada"}, request_only=True),
            OpenApiExample(
                "Several answers",
                value={"values": {"3f1c...": "yes", "9a2b...": 42}},
                request_only=True,
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.get_object()
        body = SessionResumeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        background = data.get("background")
        session = services.resume_session(
            session,
            data.get("value", services.MISSING),
            values=data.get("values"),
            actor=self._actor(),
            channel=RunChannel.API,
            background=background,
            revision=if_match_revision(request),
            multitask_strategy=data["multitask_strategy"],
            stream=data["stream"],
        )
        queued_run = getattr(session, "queued_run", None)
        if data["stream"]:
            return self._run_stream(session, queued_run.pk, None)
        queued = background if background is not None else is_background_default()
        queued = queued or queued_run is not None
        return self._session_response(
            session, status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK
        )

    @extend_schema(
        summary="Cancel a session",
        description="Stop a pending, interrupted or failed session for good. Its "
        "checkpoints stay readable; it can no longer be answered.",
        parameters=[SESSION_ID],
        request=None,
        responses={
            200: SessionSerializer,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
            409: BUSY_OR_DONE,
            503: UNAVAILABLE,
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = services.cancel_session(
            self.get_object(), actor=self._actor(), channel=RunChannel.API
        )
        running = session.status == SessionStatus.RUNNING  # the stop lands at its next step
        return self._session_response(
            session, status.HTTP_202_ACCEPTED if running else status.HTTP_200_OK
        )

    @extend_schema(
        summary="Follow a session's runs live",
        description="Server-Sent Events of the session's runs, from the start of its log "
        "or after `Last-Event-ID` (or `after`): `metadata` (run id), LangGraph's "
        "`values`, `updates`, `messages` (token chunks of LLM nodes) and `custom`, then "
        "`error` if the run failed and `end` with the status it left. Every frame has an "
        "`id:` to resume from. The stream ends once no run is active or queued (with "
        "`run`, after that run's `end`); a finished session replays its log. Comment "
        "lines (`: heartbeat`) keep idle connections open. While a queued run waits and no "
        "worker is alive, each heartbeat is preceded by a `waiting_for_worker` event "
        "(`{code: no_worker, queued_at, last_worker_seen, detail}`).",
        parameters=[SESSION_ID, StreamQuerySerializer],
        request=None,
        filters=False,
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                description="The event stream: each event's data is JSON.",
                response=OpenApiTypes.ANY,
            ),
            400: INVALID,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        renderer_classes=[EventStreamRenderer, JSONRenderer],
    )
    def stream(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        session = self.get_object()
        query = StreamQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        header = request.headers.get("Last-Event-ID")
        after = header or query.validated_data.get("after")
        field = "Last-Event-ID" if header else "after"
        return self._run_stream(session, query.validated_data.get("run"), after, field=field)

    def _run_stream(
        self, session: Session, run_id: int | None, after: str | None, *, field: str = "after"
    ) -> Any:
        try:
            follower = services.Follower(session.pk, after=after, run_id=run_id)
        except services.InvalidEventId as exc:
            raise InvalidInput(errors={field: str(exc)}) from None
        return follow_response(
            self.request,
            follower,
            frame_of,
            {},
            notice_frame=lambda notice: sse("waiting_for_worker", notice),
        )

    @extend_schema(
        summary="Checkpoint history",
        description="The session's checkpoints, newest first. Page with "
        "`before=<checkpoint_id of the last entry>`.",
        parameters=[SESSION_ID, HistoryQuerySerializer],
        request=None,
        filters=False,
        responses={
            200: CheckpointSerializer(many=True),
            400: INVALID,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
            503: UNAVAILABLE,
        },
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.get_object()
        query = HistoryQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        entries = services.get_history(
            session,
            limit=query.validated_data["limit"],
            before=query.validated_data.get("before"),
            actor=self._actor(),
        )
        return Response(CheckpointSerializer(entries, many=True).data)


def frame_of(event: Any) -> bytes:
    """A logged part as an SSE frame; the log's internal parts (`__...`) stay out."""
    if event.event.startswith("__"):
        return b""
    return sse(event.event, event.data, event.id)


def if_match_revision(request: Request) -> int | None:
    """The session revision an `If-Match: "N"` header says the client answered, if any."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    tag = header.split(",")[0].strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise InvalidInput(errors={"If-Match": f"not an ETag of this API: {header!r}"})
    return int(tag)


def is_background_default() -> bool:
    return app_settings.RUN_MODE == "background"


def nest_input_errors(exc: InvalidInput, *, body_fields: set[str]) -> InvalidInput:
    """The service names bad input fields by their state name (`amount`); in the API's
    400 they sit under `input` (`{"errors": {"input": {"amount": [...]}}}`), as DRF nests
    a nested object's errors, so they cannot be mistaken for body fields."""
    nested: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for field, message in exc.errors.items():
        if field in body_fields:
            errors[field] = message
        else:
            nested[field] = message
    if nested:
        errors["input"] = nested
    return InvalidInput(exc.detail, errors=errors)
