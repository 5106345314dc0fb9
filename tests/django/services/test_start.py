"""start_session: runs to the first question or the end, and refuses bad input up front."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings
from django.utils import timezone

from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    GraphNotFound,
    InvalidInput,
    NotAuthenticated,
)
from yamlgraph_django.models import Run, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services import start_session

pytestmark = pytest.mark.django_db


def test_start_runs_to_the_first_question(graphs, stored_threads):
    session = start_session("interview", {"topic": "Django"})

    assert session.status == SessionStatus.INTERRUPTED
    assert session.graph == graphs["interview"]
    assert session.thread_id == str(session.pk)
    assert session.input == {"topic": "Django"}
    assert [i["value"] for i in session.interrupts] == ["Hi! What is your name?"]
    assert session.interrupts[0]["id"]
    assert session.output is None
    assert session.finished_at is None
    assert session.lease_expires_at is None
    assert session.thread_id in stored_threads()
    (run,) = session.runs.all()
    assert (run.kind, run.channel, run.status, run.value) == (
        RunKind.START,
        "python",
        RunStatus.SUCCEEDED,
        {"topic": "Django"},
    )
    assert run.finished_at is not None


def test_a_graph_without_questions_completes_with_public_output(graphs):
    session = start_session("approval", {"amount": 20, "requester": "Ann"})

    assert session.status == SessionStatus.COMPLETED
    assert session.output == {
        "amount": 20,
        "requester": "Ann",
        "risk": "low",
        "approved": True,
        "decision": "auto",
    }
    assert session.interrupts == []
    assert session.finished_at is not None


def test_owner_metadata_thread_and_channel_are_recorded(graphs):
    user = get_user_model().objects.create_user("ann")

    session = start_session(
        "interview",
        owner=user,
        metadata={"ticket": "T-1", "priority": 2, "vip": True, "score": 0.5},
        thread_id="intake-42",
        channel="api",
    )

    assert session.owner == user
    assert session.metadata == {"ticket": "T-1", "priority": 2, "vip": True, "score": 0.5}
    assert session.thread_id == "intake-42"
    run = session.runs.get()
    assert (run.actor, run.channel) == (user, "api")


def test_an_anonymous_owner_is_stored_as_nobody(graphs, yamlgraph_settings):
    with pytest.raises(NotAuthenticated):  # the rulebook: a login, unless ALLOW_ANONYMOUS
        start_session("interview", owner=AnonymousUser())

    with override_settings(YAMLGRAPH={**yamlgraph_settings, "ALLOW_ANONYMOUS": True}):
        session = start_session("interview", owner=AnonymousUser())

    assert session.owner is None


def test_unknown_graph(graphs):
    with pytest.raises(GraphNotFound) as caught:
        start_session("intreview")

    assert caught.value.status_code == 404
    assert "intreview" in caught.value.detail
    assert not Session.objects.exists()


def test_unknown_input_keys_are_named_with_the_known_ones(graphs):
    with pytest.raises(InvalidInput) as caught:
        start_session("interview", {"topik": "x", "nme": "y"})

    error = caught.value
    assert error.status_code == 400
    assert set(error.errors) == {"topik", "nme"}
    assert "'topik'" in error.detail and "'nme'" in error.detail
    assert "known fields: goal, goal_question, name, name_question, summary, topic" in error.detail
    assert not Session.objects.exists()


def test_private_engine_keys_are_not_accepted_as_input(graphs):
    with pytest.raises(InvalidInput) as caught:
        start_session("interview", {"_interrupt_payloads": {}})

    assert "_interrupt_payloads" in caught.value.errors


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("s", 1, "a string (str)"),
        ("i", 1.5, "an integer (int)"),
        ("i", True, "an integer (int)"),
        ("f", "1.5", "a number (float)"),
        ("f", False, "a number (float)"),
        ("b", 1, "a boolean (bool)"),
        ("l", {"a": 1}, "a list (list)"),
        ("d", [1], "an object (dict)"),
        ("s", None, "a string (str)"),
    ],
)
def test_input_of_the_wrong_json_type_names_field_and_type(graphs, field, value, expected):
    with pytest.raises(InvalidInput) as caught:
        start_session("typed", {field: value})

    assert list(caught.value.errors) == [field]
    assert f"expected {expected}" in caught.value.errors[field]
    assert not Session.objects.exists()


def test_input_of_every_type_is_accepted_and_int_passes_for_float(graphs):
    data = {
        "s": "x",
        "i": 3,
        "f": 2,
        "b": False,
        "l": [1, "a"],
        "d": {"k": [1]},
        "a": {"anything": [None, 1.5]},
    }

    session = start_session("typed", data)

    assert session.status == SessionStatus.COMPLETED
    assert session.output == data


def test_input_must_be_an_object_and_json(graphs):
    with pytest.raises(InvalidInput) as caught:
        start_session("typed", ["s"])
    assert "input" in caught.value.errors

    with pytest.raises(InvalidInput) as caught:
        start_session("typed", {"a": timezone.now()})
    assert "Not JSON" in caught.value.errors["input.a"]


@pytest.mark.parametrize(
    "metadata",
    [["a"], {"nested": {"a": 1}}, {"list": [1]}, {"none": None}, {1: "int key"}],
)
def test_metadata_must_be_a_flat_object_of_scalars(graphs, metadata):
    with pytest.raises(InvalidInput) as caught:
        start_session("interview", metadata=metadata)

    assert "metadata" in caught.value.errors
    assert not Session.objects.exists()


def test_thread_id_must_be_unique(graphs):
    first = start_session("interview", thread_id="t-1")

    with pytest.raises(InvalidInput) as caught:
        start_session("interview", thread_id="t-1")

    assert "thread_id" in caught.value.errors
    assert list(Session.objects.all()) == [first]


@pytest.mark.parametrize("thread_id", ["", "   ", 7, "x" * 256])
def test_thread_id_must_be_a_sensible_string(graphs, thread_id):
    with pytest.raises(InvalidInput) as caught:
        start_session("interview", thread_id=thread_id)

    assert "thread_id" in caught.value.errors


def test_unknown_channel_is_refused(graphs):
    with pytest.raises(InvalidInput) as caught:
        start_session("interview", channel="telepathy")

    assert "channel" in caught.value.errors


def test_expires_at_follows_session_ttl(graphs, yamlgraph_settings):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "SESSION_TTL_MINUTES": 60}):
        before = timezone.now()
        session = start_session("interview")

    assert before + dt.timedelta(minutes=59) < session.expires_at
    assert session.expires_at <= timezone.now() + dt.timedelta(minutes=60)


def test_without_ttl_sessions_do_not_expire(graphs):
    assert start_session("interview").expires_at is None


def test_a_graph_error_at_start_returns_a_failed_session(graphs, fail_flag):
    fail_flag.touch()

    session = start_session("flaky")

    assert session.status == SessionStatus.FAILED
    assert session.error == "RuntimeError: the service is down"
    assert session.finished_at is not None
    run = session.runs.get()
    assert (run.status, run.error) == (RunStatus.FAILED, "RuntimeError: the service is down")


def test_unreachable_store_stores_nothing(graphs, store_down):
    with store_down, pytest.raises(CheckpointerUnavailable) as caught:
        start_session("interview")

    assert caught.value.status_code == 503
    assert "127.0.0.1:1" in caught.value.detail
    assert not Session.objects.exists()
    assert not Run.objects.exists()


def test_paths_in_checkpointer_settings_may_be_path_objects(graphs, yamlgraph_settings, tmp_path):
    store = tmp_path / "as-path.sqlite3"
    value = {**yamlgraph_settings, "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": store}}
    with override_settings(YAMLGRAPH=value):
        session = start_session("interview")

    assert session.status == SessionStatus.INTERRUPTED
    assert store.is_file()
