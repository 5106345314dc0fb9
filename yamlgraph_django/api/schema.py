"""OpenAPI details drf-spectacular cannot infer from the views and serializers alone.

The documented error answers and parameters shared by several operations live here, so
the views read as HTTP-to-service code.

Request bodies refuse unknown keys (see `serializers.StrictSerializer`), so their schemas
say `additionalProperties: false`: client generators then flag a typo at build time, and
schema-driven test tools do not send keys the API is bound to refuse. Importing this
module registers that extension (the views module imports it).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from yamlgraph_django.api.serializers import (
    ErrorSerializer,
    StrictSerializer,
    ValidationErrorSerializer,
)


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


class StrictSerializerExtension(OpenApiSerializerExtension):
    """Request bodies: `additionalProperties: false`, as the API refuses unknown keys."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = super().map_serializer(auto_schema, direction)
        schema["additionalProperties"] = False
        return schema
