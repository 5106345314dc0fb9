"""Values no store can hold, malformed ids and stale answers: each a clear 4xx, nothing
changed, never a 500 (the "Sound under races, faults and bad input" issue)."""

from __future__ import annotations

import pytest

from tests.django.api.support import assert_error
from yamlgraph_django.models import Run, Session


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def post_raw(api, url: str, text: str):
    return api.generic("POST", url, text, content_type="application/json")


@pytest.mark.parametrize(
    "value",
    ['"\\ud800"', '"a\\u0000b"', deep(100), deep(1000), "18446744073709551616"],
    ids=["lone-surrogate", "nul", "100-deep", "1000-deep", "int-over-64-bits"],
)
def test_an_unstorable_answer_is_a_400_and_the_session_stays_answerable(api, start, value):
    session = start("interview")
    url = f"/api/sessions/{session['id']}/resume/"

    response = post_raw(api, url, f'{{"value": {value}}}')

    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid_input", "parse_error")
    row = Session.objects.get(pk=session["id"])
    assert row.status == "interrupted" and row.runs.count() == 1
    answered = api.post(url, {"value": "Ada"}, format="json")
    assert answered.status_code == 200


@pytest.mark.parametrize("field", ["input", "metadata"])
def test_deep_start_bodies_are_400s(api, graphs, field):
    body = f'{{"graph": "interview", "{field}": {{"topic": {deep(1000)}}}}}'

    response = post_raw(api, "/api/sessions/", body)

    assert response.status_code == 400, response.content
    assert not Session.objects.exists()


@pytest.mark.parametrize(
    "verb, suffix",
    [("get", ""), ("delete", ""), ("post", "resume/"), ("get", "history/"), ("post", "cancel/")],
)
def test_a_malformed_session_id_is_a_json_404(api, graphs, verb, suffix):
    response = getattr(api, verb)(f"/api/sessions/not-a-uuid/{suffix}", {}, format="json")

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("name", ["status", "graph", "created_after", "created_before"])
def test_a_filter_without_a_value_is_a_400_naming_it(api, start, name):
    start("interview")

    response = api.get(f"/api/sessions/?{name}=")

    assert name in assert_error(response, 400, "invalid_input")["errors"]


@pytest.mark.parametrize("size", ["null", "0", "101", "x"])
def test_a_bad_page_size_is_a_400_naming_it(api, graphs, size):
    response = api.get(f"/api/sessions/?page_size={size}")

    assert "page_size" in assert_error(response, 400, "invalid_input")["errors"]


def test_if_match_binds_an_answer_to_the_question_it_answers(api, start):
    session = start("interview")
    url = f"/api/sessions/{session['id']}/resume/"
    read = api.get(f"/api/sessions/{session['id']}/")
    etag = read["ETag"]

    first = api.post(url, {"value": "Ada"}, format="json", HTTP_IF_MATCH=etag)
    second = api.post(url, {"value": "Grace"}, format="json", HTTP_IF_MATCH=etag)

    assert first.status_code == 200 and first["ETag"] != etag
    assert_error(second, 409, "stale_question")
    assert first.json()["values"]["name"] == "Ada"
    assert [r.value for r in Run.objects.filter(session_id=session["id"], kind="resume")] == ["Ada"]


def test_an_answer_for_a_question_already_answered_is_a_409(api, start):
    session = start("interview")
    url = f"/api/sessions/{session['id']}/resume/"
    question = session["interrupts"][0]["id"]
    api.post(url, {"values": {question: "Ada"}}, format="json")

    again = api.post(url, {"values": {question: "Grace"}}, format="json")

    assert_error(again, 409, "stale_question")
    assert api.get(f"/api/sessions/{session['id']}/").json()["values"]["name"] == "Ada"
