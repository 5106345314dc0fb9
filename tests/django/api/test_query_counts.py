"""What one warm request costs: SQL statements and checkpoint reads, bounded per request.

Measured without an enclosing test transaction (`transaction=True`), so the count is
what a production request sends: no SAVEPOINT statements that only tests would add.
Checkpoint reads are counted on the real SQLite saver the session uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings

from yamlgraph_django.models import GraphDefinition
from yamlgraph_django.services import run_events, stores

pytestmark = pytest.mark.django_db(transaction=True)

#: What a warm start writes (issue 22: no more than 7 statements; the token is cached
#: per process): the graph's latest version, the session and run INSERTs, the run's and
#: the session's outcome UPDATEs, the question INSERT and the run's events, in one INSERT
#: when the run is shorter than the publisher's flush delay.
MAX_START_STATEMENTS = 7
#: A resume reads the session and the questions it answers (who may answer them), claims
#: the session, inserts its run, writes both outcomes, settles the question, inserts the
#: next one and the events.
MAX_RESUME_STATEMENTS = 9
#: GET of one session: the row with its graph and owner, nothing else.
MAX_READ_STATEMENTS = 1
MAX_RESUME_CHECKPOINT_READS = 2


@pytest.fixture(autouse=True)
def runs_as_short_as_in_production(
    yamlgraph_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """A flush delay and a stop-check delay longer than any run here, so the counts are
    those of a run of milliseconds however slow the machine: each run writes its events
    once, and checks for no stop request. (A run in a request that outlives
    STOP_CHECK_SECONDS looks for one at each step, one SELECT each: CI's loaded 3.13
    line once counted 9 statements for a start that took over 0.2 s.)"""
    monkeypatch.setattr(run_events, "STOP_CHECK_SECONDS", 60.0)
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "EVENTS_FLUSH_SECONDS": 60}):
        yield


@pytest.fixture
def checkpoint_reads(graphs: dict[str, GraphDefinition]) -> Iterator[list[Any]]:
    """Every `get_tuple` call the interview graph's saver receives, as it happens."""
    saver = stores.saver_for(graphs["interview"])
    calls: list[Any] = []
    original = saver.get_tuple

    def counted(config: Any) -> Any:
        calls.append(config)
        return original(config)

    saver.get_tuple = counted
    yield calls
    del saver.get_tuple


def test_a_warm_start_sends_a_bounded_number_of_statements(
    api, start, django_assert_max_num_queries
):
    start("interview", {"topic": "warm-up"})  # first request: lazy sync, compiled graph

    with django_assert_max_num_queries(MAX_START_STATEMENTS):
        body = start("interview", {"topic": "Django"})

    assert body["status"] == "interrupted"


def test_a_warm_resume_reads_each_thing_once(
    api, start, checkpoint_reads, django_assert_max_num_queries
):
    start("interview", {"topic": "warm-up"})
    session = start("interview", {"topic": "Django"})
    checkpoint_reads.clear()

    with django_assert_max_num_queries(MAX_RESUME_STATEMENTS):
        answered = api.post(
            f"/api/sessions/{session['id']}/resume/", {"value": "Ada"}, format="json"
        )

    assert answered.status_code == 200
    assert "Thanks Ada" in answered.json()["interrupts"][0]["value"]
    assert len(checkpoint_reads) <= MAX_RESUME_CHECKPOINT_READS, checkpoint_reads


def test_the_final_resume_is_as_cheap(api, start, checkpoint_reads, django_assert_max_num_queries):
    session = start("interview", {"topic": "Django"})
    url = f"/api/sessions/{session['id']}/resume/"
    api.post(url, {"value": "Ada"}, format="json")
    checkpoint_reads.clear()

    with django_assert_max_num_queries(MAX_RESUME_STATEMENTS):
        done = api.post(url, {"value": "ship it"}, format="json")

    assert done.json()["status"] == "completed"
    assert done.json()["values"]["summary"] == "Summary: Ada wants to ship it."
    assert len(checkpoint_reads) <= MAX_RESUME_CHECKPOINT_READS, checkpoint_reads


def test_a_warm_protocol_resume_costs_no_more_than_the_api_one(
    api, start, checkpoint_reads, django_assert_max_num_queries
):
    """`/lg/` runs.wait with command.resume: the same engine, the same budget."""
    start("interview", {"topic": "warm-up"})
    session = start("interview", {"topic": "Django"})
    thread = f"/lg/threads/{session['thread_id']}/runs/wait"
    body = {"assistant_id": "interview", "command": {"resume": "Ada"}}
    checkpoint_reads.clear()

    with django_assert_max_num_queries(MAX_RESUME_STATEMENTS):
        answered = api.post(thread, body, format="json")

    assert answered.status_code == 200, answered.content
    assert "Thanks Ada" in answered.json()["__interrupt__"][0]["value"]
    assert len(checkpoint_reads) <= MAX_RESUME_CHECKPOINT_READS, checkpoint_reads


def test_a_protocol_resume_outside_the_question_is_refused_without_a_checkpoint_read(
    api, alice, start, checkpoint_reads
):
    """The in-request fast path checks the answer against the response schema cached on
    the session row: "maybe" to a yes/no question is a 400 naming `command.resume`, with
    no checkpoint read and nothing changed; "yes" is then answered."""
    # The approval example asks the finance group (issue 20): alice answers as a member.
    Group.objects.get_or_create(name="finance")[0].user_set.add(alice)
    session = start("approval", {"amount": 5000.0, "requester": "bob"})
    assert session["status"] == "interrupted"
    thread = f"/lg/threads/{session['thread_id']}/runs/wait"
    checkpoint_reads.clear()

    refused = api.post(
        thread, {"assistant_id": "approval", "command": {"resume": "maybe"}}, format="json"
    )

    assert refused.status_code == 400, refused.content
    assert "command.resume" in refused.json()["errors"]
    assert checkpoint_reads == []
    after = api.get(f"/api/sessions/{session['id']}/").json()
    assert (after["status"], after["interrupts"]) == ("interrupted", session["interrupts"])

    answered = api.post(
        thread, {"assistant_id": "approval", "command": {"resume": "yes"}}, format="json"
    )
    assert answered.status_code == 200, answered.content
    assert answered.json()["decision"] == "yes"


def test_reading_one_session_is_one_query(api, start, django_assert_max_num_queries):
    session = start("interview", {"topic": "Django"})

    with django_assert_max_num_queries(MAX_READ_STATEMENTS):
        read = api.get(f"/api/sessions/{session['id']}/")

    assert read.status_code == 200
    assert read.json()["interrupts"] == session["interrupts"]


def test_a_new_empty_thread_is_one_insert(api, django_assert_num_queries):
    """`POST /lg/threads` with nothing in it: the session row, no transaction around
    it and no query for the status of a thread that cannot have a run."""
    api.get("/api/graphs/")  # the token is known

    with django_assert_num_queries(1) as captured:
        created = api.post("/lg/threads", {}, format="json")

    assert created.status_code == 200, created.content
    assert created.json()["status"] == "idle"
    assert captured.captured_queries[0]["sql"].startswith("INSERT")


def test_the_session_answer_copies_nothing_deep(api, start, monkeypatch):
    """The answer of a start, a resume and a read is built without a DRF serializer
    instance (which deep-copies its fields each time: ~50 `copy.deepcopy` calls per
    answer before) and never copies the state: only a request body's validation
    (`SessionCreateSerializer`, `SessionResumeSerializer`) may still copy."""
    import copy
    import traceback

    start("interview", {"topic": "warm-up"})
    copied: list[tuple[Any, list[str]]] = []
    deepcopy = copy.deepcopy

    def spied(value, memo=None, _nil=[]):  # noqa: B006 - copy.deepcopy's signature
        copied.append((value, [frame.name for frame in traceback.extract_stack()]))
        return deepcopy(value, memo, _nil)

    monkeypatch.setattr(copy, "deepcopy", spied)
    session = start("interview", {"topic": "Django"})
    answered = api.post(f"/api/sessions/{session['id']}/resume/", {"value": "Ada"}, format="json")
    answer_copies = len(copied)
    read = api.get(f"/api/sessions/{session['id']}/")
    monkeypatch.undo()

    assert answered.json()["values"]["name"] == "Ada"
    assert read.json()["values"]["topic"] == "Django"
    assert not [v for v, _ in copied if isinstance(v, dict) and "topic" in v]
    read_copies = [stack for _, stack in copied[answer_copies:]]
    assert not [stack for stack in read_copies if "get_fields" in stack], read_copies
