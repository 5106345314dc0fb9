"""The session endpoints, as a client script uses them: start, read, answer, list, history,
cancel and delete, each with the errors a caller can run into."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.django.api.support import assert_error
from yamlgraph_django.models import Run, Session, SessionStatus

DEAD_STORE = {"type": "redis", "url": "redis://127.0.0.1:1/0"}

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- start


def test_start_runs_to_the_first_question(api, alice):
    response = api.post(
        "/api/sessions/",
        {"graph": "interview", "input": {"topic": "Django"}, "metadata": {"ticket": 42}},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "interrupted"
    assert body["graph"] == {"name": "interview", "version": 1}
    assert body["interrupts"] == [
        {
            "id": body["interrupts"][0]["id"],
            "value": "Hi! What is your name?",
            "response_schema": {"type": "any", "required": True},
        }
    ]
    assert body["next"] == ["ask_name"]
    assert body["values"]["topic"] == "Django"
    assert body["input"] == {"topic": "Django"}
    assert body["metadata"] == {"ticket": 42}
    assert body["owner"] == "alice"
    assert body["error"] is None and body["finished_at"] is None
    assert body["thread_id"] == body["id"]
    session = Session.objects.get(pk=body["id"])
    assert session.owner == alice
    assert session.runs.get().channel == "api"


def test_a_graph_without_questions_completes_with_values(api):
    response = api.post(
        "/api/sessions/", {"graph": "support-router", "input": {"message": "refund"}}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "completed"
    assert body["values"]["reply"] == "Billing will contact you about: refund"
    assert body["interrupts"] == [] and body["next"] == []
    assert body["finished_at"] is not None


def test_a_chosen_thread_id_is_used_once(api, start):
    assert start("interview", thread_id="ticket-7")["thread_id"] == "ticket-7"

    response = api.post(
        "/api/sessions/", {"graph": "interview", "thread_id": "ticket-7"}, format="json"
    )

    body = assert_error(response, 400, "invalid_input")
    assert "thread_id" in body["errors"]


def test_unknown_graph_is_404_naming_the_known_ones(api):
    body = assert_error(
        api.post("/api/sessions/", {"graph": "interveiw"}, format="json"), 404, "graph_not_found"
    )
    assert "interveiw" in body["detail"]
    assert "interview" in body["detail"] and "approval" in body["detail"]
    assert not Session.objects.exists()


def test_unknown_input_fields_are_400_naming_them(api):
    response = api.post(
        "/api/sessions/", {"graph": "interview", "input": {"topik": "x"}}, format="json"
    )

    body = assert_error(response, 400, "invalid_input")
    assert "topik" in body["detail"] and "topic" in body["detail"]
    assert list(body["errors"]["input"]) == ["topik"]
    assert isinstance(body["errors"]["input"]["topik"], list)
    assert not Session.objects.exists()


@pytest.mark.parametrize(("value", "expected"), [(12, "string"), ([1], "string"), (None, "string")])
def test_input_of_the_wrong_json_type_is_400_naming_the_field(api, value, expected):
    response = api.post(
        "/api/sessions/", {"graph": "interview", "input": {"topic": value}}, format="json"
    )

    body = assert_error(response, 400, "invalid_input")
    assert expected in body["errors"]["input"]["topic"][0]


def test_amount_accepts_numbers_only(api):
    response = api.post(
        "/api/sessions/",
        {"graph": "approval", "input": {"amount": "a lot", "requester": "ann"}},
        format="json",
    )

    body = assert_error(response, 400, "invalid_input")
    assert list(body["errors"]["input"]) == ["amount"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"graph": "interview", "input": ["topic"]}, "input"),
        ({"graph": "interview", "input": "topic"}, "input"),
        ({"graph": "interview", "metadata": {"nested": {"a": 1}}}, "metadata"),
        ({"graph": "interview", "metadata": {"list": [1]}}, "metadata"),
        ({"graph": "interview", "metadata": {"none": None}}, "metadata"),
        ({"graph": "interview", "metadata": "x"}, "metadata"),
        ({"input": {}}, "graph"),
        ({"graph": "interview", "inputs": {"topic": "x"}}, "inputs"),
        ({"graph": "interview", "thread_id": "has space"}, "thread_id"),
        ({"graph": "interview", "thread_id": ""}, "thread_id"),
        ({"graph": "interview", "background": "maybe"}, "background"),
    ],
)
def test_bad_start_bodies_are_400_naming_the_field(api, payload, field):
    body = assert_error(api.post("/api/sessions/", payload, format="json"), 400, "invalid_input")

    assert field in body["errors"], body
    assert not Session.objects.exists()


def test_a_body_that_is_not_a_json_object_is_400(api):
    body = assert_error(api.post("/api/sessions/", [1, 2], format="json"), 400, "invalid_input")
    assert "non_field_errors" in body["errors"]

    response = api.post("/api/sessions/", "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")

    response = api.post("/api/sessions/", "graph=interview", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        ({"graph": "interview", "input": {"topic": "a\x00b"}}, ("input", "topic"), "NUL"),
        ({"graph": "interview", "metadata": {"k\x00": "v"}}, ("metadata",), "NUL"),
        ({"graph": "inter\x00view"}, ("graph",), "NUL"),
        ({"graph": "approval", "input": {"amount": 10**30}}, ("input", "amount"), "64 bits"),
    ],
    ids=["nul-in-input", "nul-in-metadata-key", "nul-in-graph", "huge-integer"],
)
def test_values_no_store_can_hold_are_400_naming_where(api, payload, path, message):
    # Valid JSON, but PostgreSQL cannot store NUL and the checkpointer no 100-bit integer.
    body = assert_error(api.post("/api/sessions/", payload, format="json"), 400, "invalid_input")

    errors = body["errors"]
    for key in path:
        errors = errors[key]
    assert message in errors[0]
    assert not Session.objects.exists()


def test_answers_no_store_can_hold_are_400_and_change_nothing(api, start):
    session = start("interview")
    url = f"/api/sessions/{session['id']}/resume/"

    nul = assert_error(api.post(url, {"value": {"k": "\x00"}}, format="json"), 400, "invalid_input")
    huge = assert_error(api.post(url, {"value": -(2**70)}, format="json"), 400, "invalid_input")

    assert "NUL" in nul["errors"]["value"]["k"][0]
    assert "64 bits" in huge["errors"]["value"][0]
    assert api.get(f"/api/sessions/{session['id']}/").json()["interrupts"] == session["interrupts"]
    assert Session.objects.get(pk=session["id"]).runs.count() == 1


def test_a_body_over_the_limit_is_413(api, yamlgraph_settings):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "MAX_REQUEST_BYTES": 1000}):
        big = {"graph": "interview", "input": {"topic": "x" * 2000}}
        body = assert_error(
            api.post("/api/sessions/", big, format="json"), 413, "request_too_large"
        )
        assert "1000" in body["detail"]
        small = {"graph": "interview", "input": {"topic": "x" * 100}}
        assert api.post("/api/sessions/", small, format="json").status_code == 201
    assert Session.objects.count() == 1


def test_a_graph_error_at_start_is_a_failed_session(api):
    # `checked` runs its python check only after the answer; a bad answer fails it.
    session = api.post("/api/sessions/", {"graph": "checked"}, format="json").json()
    response = api.post(f"/api/sessions/{session['id']}/resume/", {"value": "bad"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert "answer 'bad' is not allowed" in body["error"]
    # The last question can be answered again.
    assert body["interrupts"][0]["value"] == "Your answer?"
    again = api.post(f"/api/sessions/{session['id']}/resume/", {"value": "good"}, format="json")
    assert again.status_code == 200
    assert again.json()["status"] == "completed"
    assert again.json()["values"]["result"] == "accepted good"


def test_an_unreachable_store_is_503_and_stores_nothing(api, yamlgraph_settings):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": DEAD_STORE}):
        response = api.post("/api/sessions/", {"graph": "interview"}, format="json")

    body = assert_error(response, 503, "checkpointer_unavailable")
    assert "127.0.0.1" not in body["detail"]  # no infrastructure details for clients
    assert not Session.objects.exists()


# --------------------------------------------------------------------------- background


def test_background_start_is_202_and_runs_after_commit(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(
            "/api/sessions/", {"graph": "interview", "background": True}, format="json"
        )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["values"] == {} and body["interrupts"] == []
    assert Session.objects.get(pk=body["id"]).status == SessionStatus.PENDING

    for callback in callbacks:  # the commit: the run is enqueued and the embedded backend
        callback()  # runs it right away, as a worker would
    later = api.get(f"/api/sessions/{body['id']}/").json()
    assert later["status"] == "interrupted"
    assert later["interrupts"][0]["value"] == "Hi! What is your name?"


def test_run_mode_background_makes_202_the_default(api, start, yamlgraph_settings):
    session = start("interview")
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "RUN_MODE": "background"}):
        started = api.post("/api/sessions/", {"graph": "interview"}, format="json")
        resumed = api.post(
            f"/api/sessions/{session['id']}/resume/", {"value": "Ada"}, format="json"
        )
        inline = api.post(
            "/api/sessions/", {"graph": "interview", "background": False}, format="json"
        )

    assert (started.status_code, started.json()["status"]) == (202, "pending")
    assert (resumed.status_code, resumed.json()["status"]) == (202, "pending")
    assert (inline.status_code, inline.json()["status"]) == (201, "interrupted")


# --------------------------------------------------------------------------- read


def test_read_shows_current_values_next_and_question(api, start):
    session = start("interview", {"topic": "Django"})
    api.post(f"/api/sessions/{session['id']}/resume/", {"value": "Ada"}, format="json")

    body = api.get(f"/api/sessions/{session['id']}/").json()

    assert body["status"] == "interrupted"
    assert body["values"]["name"] == "Ada"
    assert body["next"] == ["ask_goal"]
    assert body["interrupts"][0]["value"] == "Thanks Ada. What do you want to achieve with Django?"


@pytest.mark.parametrize("session_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_unknown_session_is_404(api, session_id):
    for response in (
        api.get(f"/api/sessions/{session_id}/"),
        api.get(f"/api/sessions/{session_id}/history/"),
        api.post(f"/api/sessions/{session_id}/resume/", {"value": 1}, format="json"),
        api.post(f"/api/sessions/{session_id}/cancel/"),
        api.delete(f"/api/sessions/{session_id}/"),
    ):
        assert_error(response, 404, "not_found")


def test_read_with_the_store_down_is_503(api, start, yamlgraph_settings):
    session = start("interview")
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": DEAD_STORE}):
        assert_error(api.get(f"/api/sessions/{session['id']}/"), 503, "checkpointer_unavailable")
        # The list reads rows only, so it keeps working while the store is down.
        listing = api.get("/api/sessions/")
    assert listing.status_code == 200
    assert listing.json()["results"][0]["interrupts"] == session["interrupts"]


# --------------------------------------------------------------------------- resume


def test_answering_every_question_completes_the_session(api, start):
    session = start("interview", {"topic": "Django"})
    url = f"/api/sessions/{session['id']}/resume/"

    first = api.post(url, {"value": "Ada"}, format="json")
    second = api.post(url, {"value": "ship it"}, format="json")

    assert first.status_code == 200 and first.json()["status"] == "interrupted"
    assert second.status_code == 200
    body = second.json()
    assert body["status"] == "completed"
    assert body["values"]["summary"] == "Summary: Ada wants to ship it."
    assert body["finished_at"] is not None
    assert [run.channel for run in Run.objects.filter(session_id=session["id"])] == ["api"] * 3


def test_several_pending_questions_are_answered_by_id(api, start):
    session = start("pair")
    ids = {i["value"]: i["id"] for i in session["interrupts"]}
    assert set(ids) == {"First?", "Second?"}
    url = f"/api/sessions/{session['id']}/resume/"

    single = api.post(url, {"value": "x"}, format="json")
    assert "values" in assert_error(single, 400, "invalid_input")["detail"]

    unknown = api.post(url, {"values": {"nope": "x"}}, format="json")
    assert "nope" in assert_error(unknown, 409, "stale_question")["detail"]

    answered = api.post(url, {"values": {ids["First?"]: "a", ids["Second?"]: "b"}}, format="json")
    assert answered.status_code == 200
    assert answered.json()["values"]["both"] == "a and b"


@pytest.mark.parametrize("answer", [0, False, [1, "two"], {"approved": True}])
def test_any_json_value_is_an_answer(api, start, answer):
    session = start("interview")

    response = api.post(f"/api/sessions/{session['id']}/resume/", {"value": answer}, format="json")

    assert response.status_code == 200
    assert response.json()["values"]["name"] == answer


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"value": "a", "values": {"x": "a"}}, "non_field_errors"),
        ({"values": {}}, "values"),
        ({"values": ["a"]}, "values"),
        ({"answer": "a"}, "answer"),
    ],
)
def test_bad_resume_bodies_are_400(api, start, payload, field):
    session = start("interview")

    response = api.post(f"/api/sessions/{session['id']}/resume/", payload, format="json")

    assert field in assert_error(response, 400, "invalid_input")["errors"]
    assert Session.objects.get(pk=session["id"]).status == SessionStatus.INTERRUPTED


def test_resume_without_an_answer_says_what_is_asked(api, start):
    session = start("interview")

    body = assert_error(
        api.post(f"/api/sessions/{session['id']}/resume/", {}, format="json"), 400, "invalid_input"
    )

    assert "Hi! What is your name?" in body["detail"]


def test_a_finished_session_is_not_resumable(api, start):
    session = start("support-router", {"message": "hi"})

    response = api.post(f"/api/sessions/{session['id']}/resume/", {"value": "x"}, format="json")

    assert_error(response, 409, "session_not_resumable")


def test_a_running_session_is_busy(api, start):
    session = start("interview")
    Session.objects.filter(pk=session["id"]).update(status=SessionStatus.RUNNING)

    response = api.post(f"/api/sessions/{session['id']}/resume/", {"value": "x"}, format="json")

    assert_error(response, 409, "session_busy")


def test_resume_with_the_store_down_is_503_and_leaves_the_session(api, start, yamlgraph_settings):
    session = start("interview")
    url = f"/api/sessions/{session['id']}/resume/"
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": DEAD_STORE}):
        assert_error(
            api.post(url, {"value": "Ada"}, format="json"), 503, "checkpointer_unavailable"
        )

    assert api.get(f"/api/sessions/{session['id']}/").json()["interrupts"] == session["interrupts"]
    assert api.post(url, {"value": "Ada"}, format="json").status_code == 200


# --------------------------------------------------------------------------- history


def test_history_is_newest_first_and_pages_with_before(api, start):
    session = start("interview")
    api.post(f"/api/sessions/{session['id']}/resume/", {"value": "Ada"}, format="json")
    url = f"/api/sessions/{session['id']}/history/"

    everything = api.get(url, {"limit": 100}).json()
    steps = [entry["step"] for entry in everything]
    assert steps == sorted(steps, reverse=True) and len(steps) >= 4
    assert everything[0]["interrupts"][0]["value"].startswith("Thanks Ada")

    first = api.get(url, {"limit": 2}).json()
    rest = api.get(url, {"limit": 100, "before": first[-1]["checkpoint_id"]}).json()
    assert [e["checkpoint_id"] for e in first + rest] == [e["checkpoint_id"] for e in everything]


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"limit": "many"}])
def test_history_limits_are_checked(api, start, query):
    session = start("interview")

    response = api.get(f"/api/sessions/{session['id']}/history/", query)

    assert "limit" in assert_error(response, 400, "invalid_input")["errors"]


# --------------------------------------------------------------------------- cancel, delete


def test_cancel_stops_a_session_for_good(api, start):
    session = start("interview")
    url = f"/api/sessions/{session['id']}/cancel/"

    response = api.post(url)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["interrupts"] == []
    assert_error(api.post(url), 409, "session_not_resumable")
    assert_error(
        api.post(f"/api/sessions/{session['id']}/resume/", {"value": "x"}, format="json"),
        409,
        "session_not_resumable",
    )


def test_delete_removes_the_session_and_its_checkpoints(api, start, stored_threads):
    session = start("interview")
    assert session["thread_id"] in stored_threads()

    response = api.delete(f"/api/sessions/{session['id']}/")

    assert response.status_code == 204
    assert not Session.objects.filter(pk=session["id"]).exists()
    assert session["thread_id"] not in stored_threads()
    assert_error(api.get(f"/api/sessions/{session['id']}/"), 404, "not_found")


def test_a_running_session_cannot_be_deleted_or_cancelled(api, start):
    session = start("interview")
    Session.objects.filter(pk=session["id"]).update(status=SessionStatus.RUNNING)

    assert_error(api.delete(f"/api/sessions/{session['id']}/"), 409, "session_busy")
    assert_error(api.post(f"/api/sessions/{session['id']}/cancel/"), 409, "session_busy")
    assert Session.objects.filter(pk=session["id"]).exists()


def test_methods_not_offered_are_405(api, start):
    session = start("interview")

    assert_error(
        api.put(f"/api/sessions/{session['id']}/", {}, format="json"), 405, "method_not_allowed"
    )
    assert_error(api.get(f"/api/sessions/{session['id']}/resume/"), 405, "method_not_allowed")


def test_a_browser_logged_in_to_the_admin_sees_the_browsable_api(client, alice, start):
    session = start("interview")
    client.force_login(alice)  # session auth, as after logging in to the admin

    response = client.get(f"/api/sessions/{session['id']}/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert "Hi! What is your name?" in response.content.decode()


def test_the_session_answer_is_the_documented_serializer_shape(api, start):
    """The API builds a session's answer from the session view (api.serializers.
    session_body) for speed; it is exactly what the documented SessionSerializer says,
    for a session waiting, completed and cancelled."""
    from yamlgraph_django import services
    from yamlgraph_django.api.serializers import SessionSerializer, session_body
    from yamlgraph_django.models import Session

    waiting = start("interview", {"topic": "Django"})
    done = start("interview", {"topic": "Rust"})
    for answer in ("Ada", "ship it"):
        api.post(f"/api/sessions/{done['id']}/resume/", {"value": answer}, format="json")
    stopped = start("interview", {"topic": "Go"})
    api.post(f"/api/sessions/{stopped['id']}/cancel/")

    for body in (waiting, done, stopped):
        session = Session.objects.select_related("graph", "owner").get(pk=body["id"])
        state = services.get_state(session)
        documented = SessionSerializer(session, context={"state": state}).data
        assert session_body(session, state) == documented
        assert api.get(f"/api/sessions/{body['id']}/").json() == documented
