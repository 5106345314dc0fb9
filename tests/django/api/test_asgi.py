"""The one-hop ASGI handler (yamlgraph_django.asgi) serves the API and streams live.

Driven in process over the ASGI interface itself (asgiref's communicator), on the real
views, database and SQLite checkpoints: a JSON answer, a run's event stream arriving
frame by frame, and sequential requests served by one pooled thread, not a new thread
per request as Django's own handler starts.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator

from tests.django.api.support import token_header
from yamlgraph_django.asgi import OneHopASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


def scope(method: str, path: str, token: str, length: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", token.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


async def call(
    app: Any, method: str, path: str, token: str, body: Any = None
) -> tuple[int, list[bytes]]:
    """(status, body chunks) of one request served by `app`."""
    payload = json.dumps(body).encode() if body is not None else b""
    communicator = ApplicationCommunicator(app, scope(method, path, token, len(payload)))
    await communicator.send_input({"type": "http.request", "body": payload})
    start = await communicator.receive_output(30)
    chunks = []
    while True:
        message = await communicator.receive_output(30)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(5)
    return start["status"], chunks


@pytest.fixture
def token(alice: Any, graphs: Any) -> str:
    return token_header(alice)


async def test_it_serves_json_and_runs_middleware_and_view_in_one_hop(token: str) -> None:
    app = OneHopASGIHandler(threads=2)
    assert not hasattr(app._middleware_chain, "__acall__")  # the sync chain, as under WSGI
    assert (await call(app, "GET", "/api/graphs/", token))[0] == 200  # threads are up
    names: list[str] = []
    real_start = threading.Thread.start

    def spied(thread: threading.Thread) -> None:
        names.append(thread.name)
        real_start(thread)

    threading.Thread.start = spied  # type: ignore[method-assign]
    try:
        for _ in range(4):
            status, chunks = await call(app, "GET", "/api/graphs/", token)
            assert status == 200
            assert "interview" in [g["name"] for g in json.loads(b"".join(chunks))]
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    # The pool (2 threads) served them all; Django's handler starts one per request.
    assert len(names) <= 1 and all(name.startswith("asgi_") for name in names), names


async def test_it_streams_a_run_frame_by_frame(token: str) -> None:
    app = OneHopASGIHandler(threads=2)
    body = {"graph": "interview", "input": {"topic": "Django"}, "stream": True}

    status, chunks = await call(app, "POST", "/api/sessions/", token, body)

    assert status == 200, chunks
    frames = [c for c in chunks if c]
    assert len(frames) > 2  # sent as they came, not one buffered body
    text = b"".join(frames).decode()
    assert "event: metadata" in text and "event: end" in text
    assert '"status":"interrupted"' in text
