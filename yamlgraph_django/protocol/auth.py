"""Authentication for LangGraph clients: a DRF token in `Authorization` or `x-api-key`.

LangGraph's SDKs send `x-api-key` when given an api key, and also on their own from
`LANGGRAPH_API_KEY`/`LANGSMITH_API_KEY`; agent-chat-ui can send nothing else. So:
`Authorization: Token <t>` or `Bearer <t>` wins when present and valid (a stray
LangSmith key in `x-api-key` is then ignored); otherwise `x-api-key` must be a token.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header
from rest_framework.request import Request

from yamlgraph_django.api.authentication import CachedTokenAuthentication


class ProtocolTokenAuthentication(CachedTokenAuthentication):
    """DRF's token authentication (cached as the API's is), also under the `Bearer`
    keyword and in `x-api-key`."""

    keywords = ("token", "bearer")

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if parts and parts[0].decode(errors="replace").lower() in self.keywords:
            if len(parts) != 2:
                raise exceptions.AuthenticationFailed(
                    "Invalid Authorization header: give 'Token <key>' or 'Bearer <key>'."
                )
            return self.authenticate_credentials(parts[1].decode(errors="replace"))
        api_key = request.META.get("HTTP_X_API_KEY", "").strip()
        if api_key:
            return self.authenticate_credentials(api_key)
        return None
