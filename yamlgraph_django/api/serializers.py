"""Request and response bodies of the API.

Two session shapes, on purpose:

- `Session` (one session: GET /sessions/{id}/, and the answer to start, resume and
  cancel) carries the live `values` and `next` read from the checkpointer, and the
  pending `interrupts`: the questions that can be answered now.
- `SessionSummary` (the rows of GET /sessions/) is built from the database row only:
  reading the checkpointer costs one round trip per row, which would make a page of
  100 as slow as 100 requests and fail the whole list when the checkpointer is down.
  Its `values` is the stored final output (null until the session completes) and it
  has no `next`; the pending `interrupts`, `status` and `error` are stored, so a client
  can show an inbox of open questions without a request per row, and fetches one
  session for its live state.

Request bodies refuse unknown keys: a typo such as `inputs` is a 400 naming the key,
not a silently ignored field that makes a graph run without its input.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.models import GraphDefinition, Session
from yamlgraph_django.services import json_type_word, session_view, validate_metadata, workers
from yamlgraph_django.services.webhooks import MAX_URL_LENGTH, WEBHOOK_MESSAGE, WEBHOOK_PATTERN

# --------------------------------------------------------------------------- fields

NULLABLE_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {},
    "nullable": True,
}


class JSONValueField(serializers.JSONField):
    """Any JSON value a store can hold (its schema, with the limits, is in api.schema)."""


class JSONObjectField(JSONValueField):
    """A JSON object (dict); anything else is a 400 that says what came instead."""

    default_error_messages = {"not_object": "Expected a JSON object, got {kind}."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_object", kind=json_type_word(data))
        return super().to_internal_value(data)


class MetadataField(JSONObjectField):
    """Flat metadata: each value a string, a number or a boolean, so it can be filtered.

    The service's `validate_metadata` decides what metadata may hold. (An empty key is
    stored like any other; only `?metadata__=` cannot filter on it.)
    """

    def to_internal_value(self, data: Any) -> Any:
        data = super().to_internal_value(data)
        try:
            return validate_metadata(data)
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.errors.get("metadata", exc.detail)) from None


class StrictSerializer(serializers.Serializer):
    # A request body that refuses keys it does not know, naming them. (A comment, not a
    # docstring: drf-spectacular would show a docstring as every subclass's description.)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                known = ", ".join(sorted(self.fields))
                raise serializers.ValidationError(
                    {key: [f"Unknown field. Known fields: {known}."] for key in unknown}
                )
        return super().to_internal_value(data)


# --------------------------------------------------------------------------- errors


class ErrorSerializer(serializers.Serializer):
    """Every error answer: a sentence for people and a stable code for programs."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(
        help_text="Stable machine-readable code, e.g. `session_busy`, `not_found`."
    )


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: `errors` maps each field name (as sent) to its messages."""

    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Field name -> list of messages (nested for `input` and `values`).",
    )


# --------------------------------------------------------------------------- graphs


class GraphRefSerializer(serializers.ModelSerializer):
    """The exact graph version a session runs on."""

    class Meta:
        model = GraphDefinition
        fields = ["name", "version"]


class GraphSummarySerializer(serializers.ModelSerializer):
    """The latest version of a registered graph."""

    class Meta:
        model = GraphDefinition
        fields = ["name", "version", "description", "declared_version", "registered_at"]


class StateFieldSerializer(serializers.Serializer):
    """A state field: what `input` may set, and with which JSON type."""

    name = serializers.CharField()
    type = serializers.CharField(help_text="str, int, float, bool, list, dict or any.")
    reducer = serializers.CharField(allow_null=True, help_text="`add` appends, else replace.")
    default = serializers.JSONField(allow_null=True)
    has_default = serializers.BooleanField()
    declared = serializers.BooleanField(
        help_text="False when the engine declared it because a node writes it."
    )


class NodeSerializer(serializers.Serializer):
    """A node of the graph, as the YAML names it."""

    name = serializers.CharField()
    type = serializers.CharField(help_text="llm, router, python, passthrough, interrupt, ...")
    description = serializers.CharField(allow_blank=True)


class EdgeSerializer(serializers.Serializer):
    """An edge: from each source to each target, maybe under a condition."""

    from_ = serializers.ListField(child=serializers.CharField(), source="sources")
    to = serializers.ListField(child=serializers.CharField(), source="targets")
    condition = serializers.CharField(allow_null=True)
    conditional = serializers.BooleanField(help_text="Routed on the router's `_route`.")

    def get_fields(self) -> dict[str, serializers.Field]:
        # `from` is a Python keyword, so the field is declared as `from_` and renamed.
        return {
            ("from" if name == "from_" else name): field
            for name, field in super().get_fields().items()
        }


class GraphDetailSerializer(GraphSummarySerializer):
    """One graph version, with what a client needs to build its input and show its shape."""

    state_fields = StateFieldSerializer(many=True)
    nodes = NodeSerializer(many=True)
    edges = EdgeSerializer(many=True)
    mermaid = serializers.CharField(help_text="Mermaid flowchart of the graph.")
    checkpointer = serializers.CharField(
        help_text="Type of the checkpointer its sessions use (memory, sqlite, redis, ...)."
    )

    class Meta(GraphSummarySerializer.Meta):
        fields = [
            *GraphSummarySerializer.Meta.fields,
            "state_fields",
            "nodes",
            "edges",
            "mermaid",
            "checkpointer",
        ]


# --------------------------------------------------------------------------- sessions


class InterruptSerializer(serializers.Serializer):
    """A pending question."""

    id = serializers.CharField(help_text="Pass it as a key of `values` to answer this one.")
    value = serializers.JSONField(
        allow_null=True,
        help_text="The question: the interrupt node's rendered message (string or object).",
    )
    response_schema = serializers.JSONField(
        required=False,
        help_text="The answer it takes: {type, required, enum?, description?} (JSON-schema-like).",
    )


class SessionSummarySerializer(serializers.ModelSerializer):
    """A session in a list: what the database stores, without reading checkpoints.

    `values` holds the final values once the session completed (else null) and there is
    no `next`; read the session itself for its live state.
    """

    graph = GraphRefSerializer(read_only=True)
    input = JSONObjectField(read_only=True)
    interrupts = InterruptSerializer(many=True, read_only=True)
    values = serializers.SerializerMethodField(
        help_text="Final values once completed, else null (the live state is on the "
        "session itself)."
    )
    error = serializers.SerializerMethodField(help_text="Why it failed, else null.")
    metadata = MetadataField(read_only=True)
    owner = serializers.SerializerMethodField(help_text="Username of the owner, or null.")

    class Meta:
        model = Session
        fields = [
            "id",
            "thread_id",
            "graph",
            "status",
            "input",
            "values",
            "interrupts",
            "error",
            "metadata",
            "owner",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(NULLABLE_OBJECT_SCHEMA)
    def get_values(self, session: Session) -> Any:
        return session.output

    @extend_schema_field({"type": "string", "nullable": True})
    def get_error(self, session: Session) -> str | None:
        return session.error or None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_owner(self, session: Session) -> str | None:
        return session.owner.get_username() if session.owner_id and session.owner else None


def _insert_after(fields: list[str], anchor: str, name: str) -> list[str]:
    """`fields` with `name` right after `anchor`."""
    at = fields.index(anchor) + 1
    return [*fields[:at], name, *fields[at:]]


class SessionSerializer(SessionSummarySerializer):
    """A session with its live state: current `values` and `next` nodes from its latest
    checkpoint, and the pending `interrupts` (the questions to answer now)."""

    # The view passes the service's `get_state` result as context["state"]; without one,
    # `values` falls back to the stored final output and `next` is empty. `interrupts`
    # are the stored ones on purpose: the service keeps them as "what can be answered
    # now", which for a failed session is its last question (the checkpoint has none)
    # and for a cancelled one nothing (the checkpoint still has the question).

    values = serializers.SerializerMethodField(
        help_text="Current state values; empty before the first step."
    )
    next = serializers.SerializerMethodField(
        help_text="Nodes that run when the session goes on; empty once it has ended."
    )
    interrupts = InterruptSerializer(
        many=True,
        read_only=True,
        help_text="Pending questions; answer them with POST .../resume/.",
    )

    waiting_for_worker = serializers.SerializerMethodField(
        help_text="Set while a queued run of the session waits and no worker is alive: "
        "`{code: no_worker, queued_at, last_worker_seen, detail}` (start one with "
        "`manage.py yamlgraph worker`); null otherwise."
    )

    class Meta(SessionSummarySerializer.Meta):
        fields = [
            *_insert_after(SessionSummarySerializer.Meta.fields, "values", "next"),
            "waiting_for_worker",
        ]
        read_only_fields = fields

    @extend_schema_field(NULLABLE_OBJECT_SCHEMA)
    def get_waiting_for_worker(self, session: Session) -> dict[str, Any] | None:
        notice = workers.session_notice(session)
        return notice.as_dict() if notice is not None else None

    def _state(self) -> dict[str, Any] | None:
        return self.context.get("state")

    @extend_schema_field(NULLABLE_OBJECT_SCHEMA)
    def get_values(self, session: Session) -> Any:
        return session_view.values_of(session, self._state())

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_next(self, session: Session) -> list[str]:
        return session_view.next_of(session, self._state())


#: How the API writes times (DRF's ISO 8601, `Z` for UTC); a field, not a serializer:
#: using it copies nothing.
_DATETIME = serializers.DateTimeField()
#: The keys of an interrupt that `InterruptSerializer` shows.
_INTERRUPT_KEYS = ("id", "value", "response_schema")


def session_body(session: Session, state: dict[str, Any] | None) -> dict[str, Any]:
    """What `SessionSerializer` answers for `session` with `state` (from the service's
    `get_state`, or None), built from the one session view without instantiating a
    serializer: DRF deep-copies a serializer's fields each time it builds one, which
    cost a start or a resume hundreds of `copy.deepcopy` calls. `SessionSerializer`
    stays the documented shape (the OpenAPI schema); a test keeps the two equal."""
    view = session_view.session_view(session, state)
    notice = workers.session_notice(session)
    return {
        "id": view.id,
        "thread_id": view.thread_id,
        "graph": view.graph,
        "status": view.status,
        "input": view.input,
        "values": view.values,
        "next": view.next,
        "interrupts": [
            {key: item[key] for key in _INTERRUPT_KEYS if key in item}
            if isinstance(item, dict)
            else item
            for item in view.interrupts
        ],
        "error": view.error,
        "metadata": view.metadata,
        "owner": session.owner.get_username() if session.owner_id and session.owner else None,
        "created_at": _DATETIME.to_representation(view.created_at),
        "updated_at": _DATETIME.to_representation(view.updated_at),
        "finished_at": _DATETIME.to_representation(view.finished_at)
        if view.finished_at is not None
        else None,
        "waiting_for_worker": notice.as_dict() if notice is not None else None,
    }


#: A thread id: no control characters (Unicode Cc) and no spaces (Zs, Zl, Zp), as a
#: pattern the OpenAPI document carries (drf-spectacular writes \A and \Z as ^ and $).
THREAD_ID_PATTERN = r"\A[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+\Z"


class SessionCreateSerializer(StrictSerializer):
    """Start a session of `graph`; unknown keys are refused."""

    graph = serializers.CharField(
        min_length=1,
        max_length=200,
        trim_whitespace=False,  # " x" names no graph: a 404, not silently "x"
        help_text="Name of a registered graph.",
    )
    input = JSONObjectField(
        required=False,
        default=dict,
        help_text="Initial state: keys are the graph's state fields (GET /graphs/{name}/).",
    )
    metadata = MetadataField(required=False, default=dict)
    thread_id = serializers.CharField(
        required=False,
        max_length=255,
        trim_whitespace=False,
        validators=[
            RegexValidator(THREAD_ID_PATTERN, "Must not contain spaces or control characters.")
        ],
        help_text="LangGraph thread id; generated when left out. Must be unused.",
    )
    background = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Queue the run (answer 202) instead of running it now; "
        "default: the RUN_MODE setting.",
    )
    stream = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Answer with the run's event stream (text/event-stream, as "
        "GET /sessions/{id}/stream/?run=) instead of the session.",
    )
    webhook = serializers.CharField(
        required=False,
        max_length=MAX_URL_LENGTH,
        trim_whitespace=False,
        validators=[RegexValidator(WEBHOOK_PATTERN, f"Webhook {WEBHOOK_MESSAGE}.")],
        help_text="http(s) URL POSTed the session (signed, X-Yamlgraph-Signature) each "
        "time it is interrupted, completes or fails.",
    )

    def validate_thread_id(self, value: str) -> str:
        if Session.objects.filter(thread_id=value).exists():
            raise serializers.ValidationError("A session with this thread_id already exists.")
        return value


class SessionResumeSerializer(StrictSerializer):
    """`{"value": X}` answers the one pending interrupt; `{"values": {id: X}}` several;
    `{}` retries a failed session from its last checkpoint."""

    value = JSONValueField(
        required=False,
        allow_null=True,
        help_text="The answer when exactly one interrupt is pending (any JSON, null too).",
    )
    values = JSONObjectField(
        required=False,
        help_text="Interrupt id -> answer, to answer several pending interrupts at once.",
    )
    background = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Queue the run (answer 202); default: the RUN_MODE setting.",
    )
    stream = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Answer with the run's event stream (text/event-stream, as "
        "GET /sessions/{id}/stream/?run=) instead of the session.",
    )
    multitask_strategy = serializers.ChoiceField(
        choices=["reject", "enqueue", "interrupt"],
        required=False,
        default="reject",
        help_text="While another run holds the session: `reject` (409), `enqueue` (202: "
        "runs after it, answering what is pending then) or `interrupt` (it stops at its "
        "next step, keeping its checkpoints, then this one runs).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "value" in attrs and "values" in attrs:
            raise serializers.ValidationError(
                "Send either `value` (one pending question) or `values` "
                "(interrupt id -> answer), not both."
            )
        if "values" in attrs and not attrs["values"]:
            raise serializers.ValidationError({"values": ["Answer at least one interrupt."]})
        return attrs


#: The ids both event logs hand out: `<row>-<part>` (database) and `<ms>-<seq>` (Redis).
EVENT_ID_PATTERN = r"^[0-9]{1,18}-[0-9]{1,9}$"


class StreamQuerySerializer(serializers.Serializer):
    """Query parameters of the event stream."""

    run = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Only this run's events (ends with its `end`).",
    )
    after = serializers.RegexField(
        EVENT_ID_PATTERN,
        required=False,
        max_length=40,
        help_text="Resume after this event id (as the Last-Event-ID header does).",
    )


class HistoryQuerySerializer(serializers.Serializer):
    """Query parameters of the history endpoint."""

    limit = serializers.IntegerField(
        required=False, default=20, min_value=1, max_value=100, help_text="At most this many."
    )
    before = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Only checkpoints older than this checkpoint_id (the next page).",
    )


class CheckpointSerializer(serializers.Serializer):
    """One checkpoint of a session: the state after one step of the graph."""

    checkpoint_id = serializers.CharField()
    parent_checkpoint_id = serializers.CharField(allow_null=True)
    step = serializers.IntegerField(allow_null=True, help_text="-1 for the input, then 0, 1, ...")
    source = serializers.CharField(allow_null=True, help_text="input, loop, update or fork.")
    nodes = serializers.ListField(
        child=serializers.CharField(), help_text="Nodes whose writes made this checkpoint."
    )
    created_at = serializers.DateTimeField(allow_null=True)
    next = serializers.ListField(child=serializers.CharField(), help_text="Nodes to run next.")
    interrupts = InterruptSerializer(many=True, help_text="Questions pending at this point.")
