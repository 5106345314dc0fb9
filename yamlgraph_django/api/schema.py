"""OpenAPI details drf-spectacular cannot infer from the views and serializers alone.

The documented error answers and parameters shared by several operations live here, so
the views read as HTTP-to-service code.

Free-form JSON (`input`, answers) is a `JSONValue`: any JSON, with the limits every store
has (integers within 64 bits), so a request the document allows is one the API accepts.

Request bodies refuse unknown keys (see `serializers.StrictSerializer`), so their schemas
say `additionalProperties: false`: client generators then flag a typo at build time, and
schema-driven test tools do not send keys the API is bound to refuse. Importing this
module registers that extension (the views module imports it).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from yamlgraph_django.api.serializers import (
    ErrorSerializer,
    JSONObjectField,
    JSONValueField,
    MetadataField,
    StrictSerializer,
    ValidationErrorSerializer,
)
from yamlgraph_django.services.validation import INT_MAX, INT_MIN, MAX_DEPTH


def error_response(description: str) -> OpenApiResponse:
    """A documented `{"detail", "code"}` answer; `description` names the codes."""
    return OpenApiResponse(ErrorSerializer, description=description)


UNAUTHENTICATED = error_response("Not authenticated (`not_authenticated`).")
NOT_FOUND = error_response(
    "No such session, or one of another user's (`not_found`): never 403, so ids cannot be probed."
)
INVALID = OpenApiResponse(
    ValidationErrorSerializer, description="Invalid request (`invalid_input`)."
)
UNAVAILABLE = error_response(
    "The checkpoint store cannot be reached (`checkpointer_unavailable`); nothing "
    "changed, retry later."
)
THROTTLED = error_response(
    "Over the user's rate of starts or answers (YAMLGRAPH['THROTTLE_RATES'], `throttled`); "
    "`Retry-After` says when to try again."
)
TOO_LARGE = error_response("The body is over YAMLGRAPH['MAX_REQUEST_BYTES'] (`request_too_large`).")
BUSY_OR_DONE = error_response(
    "Another request is running the session (`session_busy`), or it is completed or "
    "cancelled (`session_not_resumable`). The session is unchanged."
)


SESSION_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The session's id."
)
METADATA_FILTER = OpenApiParameter(
    "metadata__KEY",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Replace KEY with a metadata key, e.g. `?metadata__ticket=42`: only "
    "sessions whose metadata has that value (`42` matches the number or the string, "
    "`true` the boolean or the string).",
)
GRAPH_FILTER = OpenApiParameter(
    "graph",
    {"type": "string", "minLength": 1},
    OpenApiParameter.QUERY,
    description="Only sessions of the graph with this name.",
)


class StrictSerializerExtension(OpenApiSerializerExtension):
    """Request bodies: `additionalProperties: false`, as the API refuses unknown keys."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        # `self.target` is the serializer being documented (a subclass); the base method
        # maps `target_class`, StrictSerializer itself, which has no fields.
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


#: An integer a checkpoint can hold; other numbers (fractions, exponents) are floats.
STORABLE_INTEGER: dict[str, Any] = {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX}
STORABLE_SCALARS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "boolean"},
    STORABLE_INTEGER,
    {"type": "number", "not": {"type": "integer"}},
]


def json_value_ref(auto_schema: Any) -> dict[str, Any]:
    """A `$ref` to the JSONValue component (recursive: lists and objects of JSONValue)."""
    component = ResolvedComponent(
        name="JSONValue", type=ResolvedComponent.SCHEMA, object=JSONValueField
    )
    component.schema = {
        "description": "Any JSON value: text without NUL, integers from -2**63 to "
        f"2**64-1, at most {MAX_DEPTH} levels of lists and objects.",
        "nullable": True,
        "anyOf": [
            *STORABLE_SCALARS,
            {"type": "array", "items": component.ref},
            {"type": "object", "additionalProperties": component.ref},
        ],
    }
    auto_schema.registry.register_on_missing(component)
    return component.ref


class JSONValueFieldExtension(OpenApiSerializerFieldExtension):
    """Answers: any JSON value a store can hold."""

    target_class = JSONValueField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return json_value_ref(auto_schema)


class JSONObjectFieldExtension(OpenApiSerializerFieldExtension):
    """`input` and `values`: objects of JSON values; metadata: a flat object of scalars."""

    target_class = JSONObjectField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        if isinstance(self.target, MetadataField):
            return {
                "type": "object",
                "additionalProperties": {"anyOf": STORABLE_SCALARS},
                "description": "Flat object of strings, numbers and booleans.",
            }
        return {"type": "object", "additionalProperties": json_value_ref(auto_schema)}
