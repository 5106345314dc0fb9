"""OpenAPI details drf-spectacular cannot infer from the serializers alone.

Request bodies refuse unknown keys (see `serializers.StrictSerializer`), so their schemas
say `additionalProperties: false`: client generators then flag a typo at build time, and
schema-driven test tools do not send keys the API is bound to refuse. Importing this
module registers the extension (the views module does).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension

from yamlgraph_django.api.serializers import StrictSerializer


class StrictSerializerExtension(OpenApiSerializerExtension):
    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = super().map_serializer(auto_schema, direction)
        schema["additionalProperties"] = False
        return schema
