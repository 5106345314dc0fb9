"""The HTTP floor: the raw interview graph behind the thinnest WSGI and ASGI callables.

`bench.http` serves `bench.floor:wsgi_app` with the command line of `make serve` and
`bench.floor:asgi_app` with the one of `make run`, so the distance from these to our
API is what Django, DRF and the service add. The routes answer the API's shapes
(`POST /api/sessions/`, `POST /api/sessions/<id>/resume/`), so the same client program
drives both. The saver is the checkpointer block in BENCH_FLOOR_CHECKPOINTER (JSON),
built by yamlgraph as for our graphs; runs use `durability="sync"`, as the service does.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from langgraph.types import Command

_app: Any = None
_lock = threading.Lock()


def graph_app() -> Any:
    """The compiled graph of this process (built on first use: after the server forks)."""
    global _app
    with _lock:
        if _app is None:
            from bench.interview import build
            from yamlgraph.storage import get_checkpointer

            block = json.loads(os.environ.get("BENCH_FLOOR_CHECKPOINTER", '{"type": "memory"}'))
            _app = build().compile(checkpointer=get_checkpointer(block))
    return _app


def answer(method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """Status and JSON body for one request: start a session or resume one."""
    if method != "POST" or not path.startswith("/api/sessions/"):
        return 404, b'{"detail": "not found"}'
    data = json.loads(body or b"{}")
    rest = path[len("/api/sessions/") :].strip("/")
    if not rest:
        thread_id, payload, status = str(uuid.uuid4()), data.get("input") or {}, 201
    elif rest.endswith("/resume"):
        thread_id, payload, status = rest[: -len("/resume")], Command(resume=data["value"]), 200
    else:
        return 404, b'{"detail": "not found"}'
    config = {"configurable": {"thread_id": thread_id}}
    result = graph_app().invoke(payload, config, durability="sync")
    interrupts = [{"id": i.id, "value": i.value} for i in result.pop("__interrupt__", [])]
    return status, json.dumps(
        {
            "id": thread_id,
            "status": "interrupted" if interrupts else "completed",
            "interrupts": interrupts,
            "state": result,
        }
    ).encode()


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A bare WSGI callable: no framework between the server and the graph."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    status, payload = answer(environ["REQUEST_METHOD"], environ["PATH_INFO"], body)
    start_response(
        f"{status} {'OK' if status < 300 else 'Not Found'}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


async def asgi_app(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
    """A bare ASGI callable; the sync graph runs in a thread, as Django runs sync views."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, payload = await asyncio.to_thread(answer, scope["method"], scope["path"], body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
