"""What browsers and proxies see of the protocol: CORS, SSE headers and frames, and a
constant number of queries per page of threads. Django's test client, in process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from yamlgraph_django.models import Session


@pytest.fixture
def browser(graphs: Any, alice: Any, token_of: Any) -> Client:
    """A client sending Alice's token as agent-chat-ui does (X-Api-Key)."""
    return Client(HTTP_X_API_KEY=token_of(alice))


def test_cors_preflight_allows_the_headers_langgraph_clients_send(browser: Client) -> None:
    response = browser.options(
        "/lg/threads/search",
        HTTP_ORIGIN="http://localhost:3000",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-api-key, authorization",
    )
    assert response.status_code == 200
    assert response["access-control-allow-origin"] == "http://localhost:3000"
    allowed = {h.strip() for h in response["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-api-key", "authorization"} <= allowed

    listed = browser.post(
        "/lg/threads/search",
        "{}",
        content_type="application/json",
        HTTP_ORIGIN="http://localhost:3000",
    )
    exposed = {h.strip() for h in listed["access-control-expose-headers"].split(",")}
    assert {"content-location", "x-pagination-total", "x-pagination-next"} <= exposed
    # The DRF API and the admin get no CORS headers: only /lg/ is for browsers.
    other = browser.get("/api/graphs/", HTTP_ORIGIN="http://localhost:3000")
    assert "access-control-allow-origin" not in other


def test_stream_headers_and_frames(browser: Client) -> None:
    thread = browser.post("/lg/threads", "{}", content_type="application/json").json()
    response = browser.post(
        f"/lg/threads/{thread['thread_id']}/runs/stream",
        json.dumps({"assistant_id": "interview", "input": {}, "stream_resumable": True}),
        content_type="application/json",
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 200
    assert response["content-type"].startswith("text/event-stream")
    assert response["cache-control"] == "no-store"
    assert response["x-accel-buffering"] == "no"
    body = b"".join(response.streaming_content).decode()
    frames = [f for f in body.split("\r\n\r\n") if f]
    run_id = json.loads(frames[0].split("data: ", 1)[1])["run_id"]
    base = f"/threads/{thread['thread_id']}/runs/{run_id}"
    assert response["content-location"] == base
    assert response["location"] == f"{base}/stream"
    assert frames[0].split("\r\n")[1] == "event: metadata"
    ids = [f.split("\r\n")[0].removeprefix("id: ") for f in frames]
    assert all(f.startswith("id: ") for f in frames) and len(set(ids)) == len(ids)

    # The ids are the event log's: a rejoin after any of them gets exactly the rest (as
    # parsed frames: Postgres's jsonb keeps an object's keys in an order of its own).
    rejoined = browser.get(f"/lg{base}/stream", HTTP_LAST_EVENT_ID=ids[1])
    assert parsed(b"".join(rejoined.streaming_content).decode()) == parsed(body)[2:]
    replay = browser.get(f"/lg{base}/stream")
    assert parsed(b"".join(replay.streaming_content).decode()) == parsed(body)


def parsed(body: str) -> list[tuple[str, str, Any]]:
    """(id, event, data) of each SSE frame of a body."""
    frames = []
    for frame in filter(None, body.split("\r\n\r\n")):
        head, event, data = frame.split("\r\n")
        frames.append((head, event, json.loads(data.removeprefix("data: "))))
    return frames


def test_unauthenticated_requests_get_json_401_not_a_redirect(graphs: Any) -> None:
    response = Client().post("/lg/threads", "{}", content_type="application/json")
    assert response.status_code == 401
    assert response["content-type"] == "application/json"
    assert "detail" in response.json()


def test_thread_search_costs_a_constant_number_of_queries(
    browser: Client, alice: Any, django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        browser.post("/lg/threads", "{}", content_type="application/json")
    with django_assert_max_num_queries(6):
        small = browser.post("/lg/threads/search", "{}", content_type="application/json")
    for _ in range(12):
        browser.post("/lg/threads", "{}", content_type="application/json")
    with django_assert_max_num_queries(6):
        large = browser.post(
            "/lg/threads/search", '{"limit": 100}', content_type="application/json"
        )
    assert len(small.json()) == 3 and len(large.json()) == 15
    assert large["x-pagination-total"] == "15"
    assert Session.objects.filter(owner=alice).count() == 15
