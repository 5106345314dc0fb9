"""The thread-scoped protocol over WebSocket (ASGI servers only): `ws://host/lg/threads/{id}/stream/events`.

The JS SDK's WebSocket transport (`client.threads.stream(id, {transport: "websocket"})`)
opens one socket per thread and sends every command on it (`run.start`, `input.respond`,
`subscription.subscribe`, ...); answers and events come back on it. Commands are the
HTTP `commands` endpoint's; events are the `stream/events` projection of the run event
log, for the union of the channels subscribed (a new subscription replays the thread's
latest run; the SDK drops events it has seen by `event_id`).

Browsers cannot set headers on a WebSocket: the DRF token comes as `Authorization`
(`Token`/`Bearer`) or `x-api-key` where the client can send headers, else as the query
parameter `token` (or `api_key`). Wrap the project's ASGI application:

    application = thread_sockets(get_asgi_application(), prefix="/lg/")
"""

from __future__ import annotations

import asyncio
import json
import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from yamlgraph_django.events.base import appended
from yamlgraph_django.models import Session
from yamlgraph_django.protocol import stream_events
from yamlgraph_django.protocol.commands import CommandsView
from yamlgraph_django.services.thread_events import ThreadFollower, latest_run_pk

POLL_SECONDS = 0.2
#: Close codes the SDK reads as HTTP statuses (code - 4000).
UNAUTHORIZED, NOT_FOUND = 4401, 4404


def thread_sockets(django_app: Any, prefix: str = "/lg/") -> Any:
    """`django_app` plus the WebSocket endpoint of the thread protocol under `prefix`."""
    pattern = re.compile(re.escape(prefix) + r"threads/(?P<thread_id>[^/]+)/stream/events/?")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return await django_app(scope, receive, send)
        match = pattern.fullmatch(scope.get("path", ""))
        if match is None:
            await receive()  # websocket.connect
            await refuse(send, NOT_FOUND)
            return None
        return await ThreadSocket(scope, receive, send, match["thread_id"]).run()

    return app


async def refuse(send: Any, code: int) -> None:
    """Accept, then close with `code`: a close before accepting reaches the client as a
    bare HTTP 403, without the code the SDK reads."""
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code})


def token_of(scope: dict[str, Any]) -> str | None:
    headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
    parts = headers.get("authorization", "").split()
    if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
        return parts[1]
    if headers.get("x-api-key"):
        return headers["x-api-key"].strip()
    query = parse_qs(scope.get("query_string", b"").decode())
    for name in ("token", "api_key"):
        if query.get(name):
            return query[name][0]
    return None


def user_of(token: str | None) -> Any:
    from rest_framework.authtoken.models import Token

    close_old_connections()
    if not token:
        return None
    found = Token.objects.select_related("user").filter(key=token).first()
    return found.user if found is not None and found.user.is_active else None


class ThreadSocket:
    """One client's socket on one thread: commands in, answers and events out."""

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any, thread_id: str) -> None:
        self.scope, self.receive, self.send, self.thread_id = scope, receive, send, thread_id
        self.subscriptions: dict[str, list[str]] = {}
        self.projection: stream_events.Projection | None = None
        self.follower: ThreadFollower | None = None
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        message = await self.receive()
        if message["type"] != "websocket.connect":
            return
        user = await sync_to_async(user_of)(token_of(self.scope))
        if user is None:
            await refuse(self.send, UNAUTHORIZED)
            return
        self.user = user
        await self.send({"type": "websocket.accept"})
        pump = asyncio.create_task(self.pump())
        try:
            while True:
                message = await self.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message["type"] == "websocket.receive":
                    text = message.get("text") or (message.get("bytes") or b"").decode()
                    await self.command(text)
        finally:
            pump.cancel()

    async def command(self, text: str) -> None:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            answer = {
                "type": "error",
                "id": None,
                "error": "invalid_argument",
                "message": "a command is a JSON object",
            }
        elif body.get("method") == "subscription.subscribe":
            answer = await sync_to_async(self.run_command)(body)
            if answer.get("type") == "success":
                params = body.get("params") or {}
                self.subscriptions[answer["result"]["subscription_id"]] = list(params["channels"])
                await self.restart()
        elif body.get("method") == "subscription.unsubscribe":
            subscription = str((body.get("params") or {}).get("subscription_id"))
            if self.subscriptions.pop(subscription, None) is None:
                answer = {
                    "type": "error",
                    "id": body.get("id"),
                    "error": "no_such_subscription",
                    "message": f"no subscription {subscription}",
                }
            else:
                answer = {"type": "success", "id": body.get("id"), "result": {}}
                await self.restart()
        else:
            answer = await sync_to_async(self.run_command)(body)
        await self.send({"type": "websocket.send", "text": json.dumps(answer, default=str)})

    def run_command(self, body: dict[str, Any]) -> dict[str, Any]:
        """The HTTP `commands` endpoint's answer to `body`, for this socket's user."""
        close_old_connections()
        view = CommandsView()
        view.request = SimpleNamespace(user=self.user, data=body)  # type: ignore[assignment]
        view.format_kwarg = None
        return dict(view.post(view.request, self.thread_id).data)

    async def restart(self) -> None:
        """Follow the thread again from its latest run, for the channels subscribed now
        (a new subscription gets what it missed; the client drops what it has)."""
        async with self.lock:
            channels = sorted({c for cs in self.subscriptions.values() for c in cs})
            self.projection = stream_events.Projection(channels) if channels else None
            self.follower = None

    def poll(self) -> list[Any]:
        close_old_connections()
        if self.follower is None:
            session = Session.objects.filter(thread_id=self.thread_id).first()
            if session is None or not self.visible(session):
                return []
            self.projection.graph_name = session.graph.name if session.graph_id else ""
            self.follower = ThreadFollower(
                session.pk, from_run=latest_run_pk(session), idle_seconds=float("inf")
            )
        return self.follower.poll()

    def visible(self, session: Session) -> bool:
        from yamlgraph_django.api import permissions

        rows = permissions.visible_sessions(self.user, Session.objects.all(), listing=False)
        return rows.filter(pk=session.pk).exists()

    async def pump(self) -> None:
        while True:
            seen = appended.generation  # an append during the poll wakes the wait below
            async with self.lock:
                if self.projection is not None:
                    for event in await sync_to_async(self.poll)():
                        for envelope in self.projection.events(event):
                            text = json.dumps(envelope, separators=(",", ":"), default=str)
                            await self.send({"type": "websocket.send", "text": text})
            await appended.wait_async(seen, POLL_SECONDS)
