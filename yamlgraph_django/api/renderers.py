"""Renderers: `text/event-stream`, so that a client sending `Accept: text/event-stream`
(EventSource does) reaches the stream view instead of a 406."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.renderers import BaseRenderer


class EventStreamRenderer(BaseRenderer):
    """Only negotiates the media type: the stream view answers with its own
    StreamingHttpResponse, and an error before it (404, 400) renders as JSON text."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return json.dumps(data).encode() if data is not None else b""
