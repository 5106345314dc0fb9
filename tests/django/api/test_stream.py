"""GET /api/sessions/{id}/stream/ and `"stream": true`: a session's runs as Server-Sent
Events, replayed from the event log or followed live, resumable from any event id.

The test client speaks WSGI, so the view answers with the synchronous stream; the
heartbeat is shortened so that a test reading an idle stream gets a chunk at least
every half second and can give up on a stream that never ends.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings

from tests.django.api.conftest import SLOW_GRAPH, SLOW_TOOL
from tests.django.api.support import assert_error
from tests.django.engine_support import STEPS_GRAPH, STEPS_TOOL
from yamlgraph_django.events import event_log
from yamlgraph_django.models import Run, Session
from yamlgraph_django.services import Follower

pytestmark = pytest.mark.django_db

HEARTBEAT = b": heartbeat"


@dataclass(frozen=True)
class Frame:
    id: str | None
    event: str
    data: Any


@pytest.fixture(autouse=True)
def quick_heartbeat(yamlgraph_settings: dict[str, Any]) -> Iterator[None]:
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "EVENTS_HEARTBEAT_SECONDS": 0.3}):
        yield


@pytest.fixture
def steps(graphs: Any, register_graphs: Any) -> None:
    """The API suite's graphs plus `steps` (four slow steps, then a question)."""
    register_graphs(SLOW_TOOL + STEPS_TOOL, {"slow.yaml": SLOW_GRAPH, **STEPS_GRAPH})


def read_stream(response: Any, *, timeout: float = 15.0) -> tuple[list[Frame], bytes]:
    """Every frame of an event-stream response, read to its end; and the raw body."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/event-stream")
    deadline = time.monotonic() + timeout
    body = b""
    for chunk in response.streaming_content:
        body += chunk
        assert time.monotonic() < deadline, f"the stream did not end; so far: {body[-500:]!r}"
    frames = []
    for block in body.decode().split("\r\n\r\n"):
        lines = [line for line in block.split("\r\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        frames.append(Frame(fields.get("id"), fields["event"], json.loads(fields["data"])))
    return frames, body


def stream(api: Any, session_id: str, query: str = "", **headers: str) -> list[Frame]:
    frames, _body = read_stream(api.get(f"/api/sessions/{session_id}/stream/{query}", **headers))
    return frames


@pytest.fixture
def finished(api: Any, start: Any) -> dict[str, Any]:
    """An interview answered to its end: three runs in its log."""
    session = start("interview", {"topic": "streams"})
    for answer in ("Ada", "Ship it"):
        response = api.post(
            f"/api/sessions/{session['id']}/resume/", {"value": answer}, format="json"
        )
        assert response.status_code == 200, response.json()
    return session


def test_a_waiting_session_replays_its_run_and_the_stream_ends(api, start):
    session = start("interview")
    run = Run.objects.get(session_id=session["id"])

    frames = stream(api, session["id"])

    assert frames[0] == Frame(
        frames[0].id, "metadata", {"run_id": run.pk, "session_id": session["id"]}
    )
    assert frames[-1].event == "end"
    assert frames[-1].data == {"run_id": run.pk, "status": "interrupted"}
    assert any("__interrupt__" in f.data for f in frames if f.event == "updates")
    assert all(f.id for f in frames)  # every frame says where to resume from
    assert len({f.id for f in frames}) == len(frames)


def test_a_finished_session_replays_every_run_in_order(api, finished):
    frames = stream(api, finished["id"])

    runs = list(Run.objects.filter(session_id=finished["id"]).order_by("id"))
    ends = [f.data for f in frames if f.event == "end"]
    assert ends == [
        {"run_id": runs[0].pk, "status": "interrupted"},
        {"run_id": runs[1].pk, "status": "interrupted"},
        {"run_id": runs[2].pk, "status": "completed"},
    ]
    assert [f.data["run_id"] for f in frames if f.event == "metadata"] == [r.pk for r in runs]
    assert frames[-2].event == "values" and frames[-2].data["summary"]


def test_resuming_from_any_event_id_loses_and_repeats_nothing(api, finished):
    frames = stream(api, finished["id"])

    for position, frame in enumerate(frames):
        rest = frames[position + 1 :]
        assert stream(api, finished["id"], HTTP_LAST_EVENT_ID=frame.id) == rest
        if position % 5 == 0:  # the query parameter, for clients that cannot set headers
            assert stream(api, finished["id"], f"?after={frame.id}") == rest


def test_run_gives_only_that_run_and_ends_at_its_end(api, finished):
    first, second, _third = Run.objects.filter(session_id=finished["id"]).order_by("id")
    everything = stream(api, finished["id"])

    frames = stream(api, finished["id"], f"?run={second.pk}")

    assert frames[0].data["run_id"] == second.pk and frames[-1].data["run_id"] == second.pk
    assert frames[-1].event == "end"
    starts = [i for i, f in enumerate(everything) if f.event == "metadata"]
    assert frames == everything[starts[1] : starts[2]]
    assert stream(api, finished["id"], f"?run={first.pk}") == everything[: starts[1]]


def test_a_malformed_last_event_id_is_a_400_naming_the_field(api, start):
    session = start("interview")

    response = api.get(f"/api/sessions/{session['id']}/stream/", HTTP_LAST_EVENT_ID="yesterday")
    body = assert_error(response, 400, "invalid_input")
    assert "Last-Event-ID" in body["errors"]

    response = api.get(f"/api/sessions/{session['id']}/stream/?after=yesterday")
    assert "after" in assert_error(response, 400, "invalid_input")["errors"]
    response = api.get(f"/api/sessions/{session['id']}/stream/?run=zero")
    assert "run" in assert_error(response, 400, "invalid_input")["errors"]


def test_another_users_session_is_not_found(api, start, bob, client_for):
    session = start("interview")

    response = client_for(bob).get(f"/api/sessions/{session['id']}/stream/")

    assert_error(response, 404, "not_found")
    response = client_for(bob).get(
        f"/api/sessions/{session['id']}/stream/", HTTP_ACCEPT="text/event-stream"
    )
    assert_error(response, 404, "not_found")  # JSON, though an EventSource asked


def test_an_event_source_accept_header_gets_the_stream(api, start):
    session = start("interview")

    frames = stream(api, session["id"], HTTP_ACCEPT="text/event-stream")

    assert frames[-1].event == "end"


def test_each_poll_of_a_stream_is_a_few_queries(api, finished, django_assert_max_num_queries):
    last_run = Run.objects.filter(session_id=finished["id"]).order_by("id").last()
    for follower in (Follower(finished["id"]), Follower(finished["id"], run_id=last_run.pk)):
        with django_assert_max_num_queries(3):
            events = follower.poll()
        assert events and follower.done
        with django_assert_max_num_queries(3):
            assert follower.poll() == []


@pytest.mark.django_db(transaction=True)
def test_a_stream_waits_for_the_log_of_a_run_whose_rows_were_written_first(api, start):
    """A run writes its rows, then its buffered parts and `end` to the log (a worker's
    short run: one write at the end). A stream that read the previous run's `end` and
    then finds the rows idle must not end there: it waits for the newest run's `end`.
    (Seen in CI once in ~11 runs: a worker's run of the multi-process suite missing
    from a stream read on another app server.)"""
    session = start("interview", {"topic": "late logs"})
    late = Run.objects.create(
        session_id=session["id"], kind="resume", channel="api", status="succeeded"
    )
    follower = Follower(session["id"])

    def log_the_late_run() -> None:
        time.sleep(0.5)
        event_log().append(
            session["id"],
            late.pk,
            [("metadata", {"run_id": late.pk}), ("end", {"run_id": late.pk, "status": "x"})],
        )
        connections.close_all()

    writer = threading.Thread(target=log_the_late_run)
    writer.start()
    events: list[Any] = []
    deadline = time.monotonic() + 15
    while not follower.done and time.monotonic() < deadline:
        events += follower.poll()
        if not follower.done:
            follower.wait(0.1)
    writer.join()

    ends = [e.run_id for e in events if e.event == "end"]
    assert ends[-1] == late.pk, [(e.event, e.run_id) for e in events]


# --------------------------------------------------------------------------- live runs


@pytest.mark.django_db(transaction=True)
def test_stream_true_on_start_answers_with_the_runs_events(api, steps):
    response = api.post(
        "/api/sessions/", {"graph": "steps", "input": {}, "stream": True}, format="json"
    )

    frames, body = read_stream(response)

    session = Session.objects.get()
    run = session.runs.get()
    assert frames[0].event == "metadata" and frames[0].data["run_id"] == run.pk
    assert [f.event for f in frames].count("updates") >= 5  # four steps and the question
    assert frames[-1] == Frame(frames[-1].id, "end", {"run_id": run.pk, "status": "interrupted"})
    assert HEARTBEAT in body  # idle moments while a step ran kept the connection open
    assert stream(api, str(session.pk)) == frames  # the same events, replayed from the log


@pytest.mark.django_db(transaction=True)
def test_stream_true_on_resume_answers_with_that_runs_events(api, start, graphs):
    session = start("interview")

    response = api.post(
        f"/api/sessions/{session['id']}/resume/", {"value": "Ada", "stream": True}, format="json"
    )

    frames, _body = read_stream(response)
    first, resumed = Run.objects.filter(session_id=session["id"]).order_by("id")
    assert {f.data["run_id"] for f in frames if f.event in ("metadata", "end")} == {resumed.pk}
    assert frames[-1].data == {"run_id": resumed.pk, "status": "interrupted"}
    state = api.get(f"/api/sessions/{session['id']}/").json()
    assert state["status"] == "interrupted" and state["values"]["name"] == "Ada"


@pytest.mark.django_db(transaction=True)
def test_a_second_client_follows_a_running_session_to_its_end(api, steps):
    response = api.post(
        "/api/sessions/", {"graph": "steps", "input": {}, "stream": True}, format="json"
    )
    session = Session.objects.get()

    live = stream(api, str(session.pk))  # while the run goes through its steps

    frames, _body = read_stream(response)
    assert live == frames
    assert live[-1].data["status"] == "interrupted"
