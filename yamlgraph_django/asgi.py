"""An ASGI handler that serves a sync Django view in one hop to a thread.

Django's own ASGI handler runs each sync middleware and then the view through
`sync_to_async` separately, and gives every request a thread-sensitive context that
starts a new thread (with a new database connection) for it: several hops and a thread
start per request, which made uvicorn slower than gunicorn on the same sync views. This
handler builds the sync middleware chain once and runs middleware and view together on
a thread of a pool (`YAMLGRAPH["ASGI_THREADS"]` threads, default as many as asyncio's
default executor), whose threads keep their database connections (CONN_MAX_AGE) as
gunicorn's workers do. Streams are unchanged: an async iterator a view returns
(`http_streams`) is still read on the event loop, holding no thread while it waits.

    # project/asgi.py
    from yamlgraph_django.asgi import get_asgi_application
    application = get_asgi_application()
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponseBase


def default_threads() -> int:
    """asyncio's default executor size: enough for blocking I/O, bounded."""
    return min(32, (os.cpu_count() or 1) + 4)


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGIHandler, with the sync middleware chain and the view in one hop."""

    def __init__(self, threads: int | None = None) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)  # the sync chain, as under WSGI
        from yamlgraph_django.conf import app_settings

        size = threads or app_settings.ASGI_THREADS or default_threads()
        self.executor = ThreadPoolExecutor(max_workers=int(size), thread_name_prefix="asgi")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # No per-request ThreadSensitiveContext (a new thread for each request): the
        # request's sync work runs on this handler's pool instead (get_response_async).
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self.executor, context.run, self.serve, request)

    def serve(self, request: HttpRequest) -> HttpResponseBase:
        """Middleware and view on a pool thread, with the connection care Django's
        request_started/finished signals give a WSGI worker thread."""
        reset_queries()
        close_old_connections()
        try:
            return self.get_response(request)
        finally:
            close_old_connections()


def get_asgi_application(threads: int | None = None) -> OneHopASGIHandler:
    """`django.core.asgi.get_asgi_application`, serving sync views in one hop."""
    django.setup(set_prefix=False)
    return OneHopASGIHandler(threads)
