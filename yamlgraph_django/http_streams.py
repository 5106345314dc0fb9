"""Server-Sent Events responses that stream under WSGI and ASGI alike.

Django buffers a sync iterator under ASGI (and an async one under WSGI) into one body,
which would turn a live stream into a reply at the end. So a response is built from a
sync iterator under WSGI, and under ASGI from an async iterator that reads the same
source off the event loop: a finite source (a run the request executes) on its own
thread; the event log with `follow_async`, which holds no thread while it waits.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import StreamingHttpResponse

from yamlgraph_django.conf import app_settings
from yamlgraph_django.events.base import appended

HEARTBEAT = b": heartbeat\r\n\r\n"
POLL_SECONDS = 0.2


def sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One Server-Sent Event frame, as langgraph-api writes them."""
    head = f"id: {event_id}\r\n" if event_id is not None else ""
    body = json.dumps(data, separators=(",", ":"), default=str)
    return f"{head}event: {event}\r\ndata: {body}\r\n\r\n".encode()


def is_asgi(request: Any) -> bool:
    return isinstance(getattr(request, "_request", request), ASGIRequest)


def event_stream_response(
    request: Any, frames: Iterator[bytes] | AsyncIterator[bytes], headers: dict[str, str]
) -> StreamingHttpResponse:
    """A text/event-stream response (not cached, not buffered by proxies)."""
    if is_asgi(request) and not hasattr(frames, "__aiter__"):
        frames = iterate_in_thread(frames)  # type: ignore[arg-type]
    response = StreamingHttpResponse(frames, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    for name, value in headers.items():
        response[name] = value
    return response


async def iterate_in_thread(frames: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Drive a sync iterator on a thread of its own and hand its items to the loop; if
    the client leaves, the iterator is closed on that thread (its cleanup runs)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
    stop = threading.Event()
    finished = object()

    def produce() -> None:
        try:
            for item in frames:
                if stop.is_set():
                    break
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
        except Exception as exc:  # surfaced in the response's iterator
            asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
            close_old_connections()
            asyncio.run_coroutine_threadsafe(queue.put(finished), loop)

    threading.Thread(target=produce, name="yamlgraph-sse", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is finished:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        while not queue.empty():  # unblock a producer waiting on a full queue
            queue.get_nowait()


def waiting_comment(notice: dict[str, Any]) -> bytes:
    """A queued run without a worker, as an SSE comment (clients skip it; curl shows it)."""
    return f": no_worker: {notice['detail']}\r\n\r\n".encode()


def heartbeat(follower: Any, notice_frame: Any = waiting_comment) -> bytes:
    """The idle stream's heartbeat; while the run it follows is queued with no worker
    alive, preceded by `notice_frame(notice)` saying so."""
    from yamlgraph_django.models import Run, Session
    from yamlgraph_django.services import workers

    try:
        if follower.run_id is not None:
            run = Run.objects.filter(pk=follower.run_id).first()
            notice = workers.queued_notice(run) if run is not None else None
        else:
            session = Session.objects.filter(pk=follower.session_id).first()
            notice = workers.session_notice(session) if session is not None else None
    except Exception:  # a heartbeat never ends a stream
        notice = None
    if notice is None:
        return HEARTBEAT
    return notice_frame(notice.as_dict()) + HEARTBEAT


def follow(follower: Any, frame: Any, notice_frame: Any = waiting_comment) -> Iterator[bytes]:
    """Frames of the events a `run_events.Follower` reads, with heartbeats, until done;
    `frame(event)` may return b"" to leave an event out."""
    beat = time.monotonic()
    while True:
        batch = follower.poll()
        for event in batch:
            if data := frame(event):  # never an empty chunk: it would end a chunked body
                yield data
        if follower.done:
            return
        if not batch:
            if time.monotonic() - beat >= app_settings.EVENTS_HEARTBEAT_SECONDS:
                beat = time.monotonic()
                yield heartbeat(follower, notice_frame)
            follower.wait(POLL_SECONDS)


async def follow_async(
    follower: Any, frame: Any, notice_frame: Any = waiting_comment
) -> AsyncIterator[bytes]:
    """`follow` for ASGI: each poll on a pool thread, the waits on the event loop (woken
    by an append in this process, else POLL_SECONDS later: no thread held)."""
    poll = sync_to_async(follower.poll, thread_sensitive=False)
    beat_frame = sync_to_async(heartbeat, thread_sensitive=False)
    beat = time.monotonic()
    while True:
        seen = appended.generation  # an append during the poll wakes the wait below
        batch = await poll()
        for event in batch:
            if data := frame(event):
                yield data
        if follower.done:
            return
        if not batch:
            if time.monotonic() - beat >= app_settings.EVENTS_HEARTBEAT_SECONDS:
                beat = time.monotonic()
                yield await beat_frame(follower, notice_frame)
            await appended.wait_async(seen, POLL_SECONDS)


def follow_response(
    request: Any,
    follower: Any,
    frame: Any,
    headers: dict[str, str],
    notice_frame: Any = waiting_comment,
) -> StreamingHttpResponse:
    """An event-stream response reading the log through `follower`; `notice_frame`
    renders the notice of a run queued with no worker alive (a comment by default)."""
    frames = (
        follow_async(follower, frame, notice_frame)
        if is_asgi(request)
        else follow(follower, frame, notice_frame)
    )
    return event_stream_response(request, frames, headers)
