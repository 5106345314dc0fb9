"""Who may do what through the protocol, and the status code of every error, as
LangGraph's clients see them (the SDK raises a typed error per status code)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
)
from rest_framework.test import APIClient

from yamlgraph_django import services
from yamlgraph_django.models import RunChannel, Session


@pytest.fixture
def alices_thread(sdk: Any) -> str:
    thread_id = sdk.threads.create(metadata={"graph_id": "interview"})["thread_id"]
    sdk.runs.wait(thread_id, "interview", input={})
    return thread_id


def test_another_user_cannot_see_or_touch_the_thread(
    sdk: Any, bob: Any, sync_client_for: Any, alices_thread: str
) -> None:
    other = sync_client_for(bob)
    for call in (
        lambda: other.threads.get(alices_thread),
        lambda: other.threads.get_state(alices_thread),
        lambda: other.threads.get_history(alices_thread),
        lambda: other.threads.update(alices_thread, metadata={"x": 1}),
        lambda: other.threads.copy(alices_thread),
        lambda: other.threads.delete(alices_thread),
        lambda: other.runs.list(alices_thread),
        lambda: list(other.runs.stream(alices_thread, "interview", command={"resume": "Bob"})),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert other.threads.search(metadata={"graph_id": "interview"}) == []
    for if_exists in ("do_nothing", "raise"):  # that the id is taken stays hidden too
        with pytest.raises(NotFoundError):
            other.threads.create(thread_id=alices_thread, if_exists=if_exists)
    # Alice's thread is as it was.
    assert sdk.threads.get(alices_thread)["status"] == "interrupted"
    assert Session.objects.get(thread_id=alices_thread).runs.count() == 1


def test_tokens_in_authorization_bearer_and_x_api_key(
    alice: Any, lg_url: str, token_of: Any, alices_thread: str
) -> None:
    key = token_of(alice)
    by_api_key = get_sync_client(url=lg_url, api_key=key)
    assert by_api_key.threads.get(alices_thread)["thread_id"] == alices_thread
    bearer = get_sync_client(url=lg_url, api_key=None, headers={"Authorization": f"Bearer {key}"})
    assert bearer.threads.get(alices_thread)["thread_id"] == alices_thread
    # A stray LangSmith key beside a valid Authorization is ignored.
    stray = get_sync_client(
        url=lg_url, api_key="lsv2_pt_not_a_token", headers={"Authorization": f"Token {key}"}
    )
    assert stray.threads.get(alices_thread)["thread_id"] == alices_thread


def test_unauthenticated_is_401_json_never_a_login_redirect(lg_url: str, graphs: Any) -> None:
    anonymous = get_sync_client(url=lg_url, api_key=None)
    with pytest.raises(AuthenticationError) as caught:
        anonymous.threads.search()
    assert caught.value.response.status_code == 401
    assert "detail" in caught.value.response.json()
    wrong = get_sync_client(url=lg_url, api_key="not-a-token")
    with pytest.raises(AuthenticationError):
        wrong.assistants.search()
    assert anonymous.http.get("/info")["flags"]["assistants"] is True  # /info needs none


def test_error_status_codes(sdk: Any, alices_thread: str) -> None:
    missing = "00000000-0000-4000-8000-00000000beef"
    with pytest.raises(NotFoundError):
        sdk.threads.get(missing)
    with pytest.raises(NotFoundError):
        sdk.assistants.get(missing)  # an unknown assistant UUID
    with pytest.raises(UnprocessableEntityError):
        sdk.assistants.get("no-such-graph")  # neither a UUID nor a graph name
    with pytest.raises(UnprocessableEntityError):
        list(sdk.runs.stream(alices_thread, "no-such-graph", input={}))
    with pytest.raises(NotFoundError):
        sdk.runs.get(alices_thread, missing)
    with pytest.raises(NotFoundError):
        sdk.threads.get_state(alices_thread, checkpoint_id="1f000000-0000-6000-8000-000000000000")
    with pytest.raises(BadRequestError) as caught:
        list(sdk.runs.stream(alices_thread, "interview", input={"nmae": "Ada"}))
    assert "nmae" in caught.value.response.json()["detail"]
    with pytest.raises(BadRequestError):
        list(sdk.runs.stream(alices_thread, "approval", input={}))  # another graph's thread
    with pytest.raises(httpx.HTTPStatusError) as waited:
        sdk.runs.wait(alices_thread, "interview", input="not an object")
    assert waited.value.response.status_code == 400

    # A resume with nothing pending is a 400 and leaves the thread as it was.
    done = sdk.threads.create()["thread_id"]
    with pytest.raises(BadRequestError) as caught:
        list(sdk.runs.stream(done, "interview", command={"resume": "Ada"}))
    assert "not waiting" in caught.value.response.json()["detail"]
    assert sdk.threads.get(done)["status"] == "idle"


def test_a_graph_error_is_an_error_event_and_an_error_thread(
    sdk: Any, register_graphs: Any
) -> None:
    register_graphs(
        'def explode(state):\n    raise RuntimeError("boom")\n',
        {
            "explode.yaml": """
            version: "1.0"
            name: explode
            state: {x: str}
            tools:
              explode: {path: tools/checks.py, function: explode}
            nodes:
              fail: {type: python, tool: explode}
            edges:
              - {from: START, to: fail}
              - {from: fail, to: END}
            """
        },
    )
    thread_id = sdk.threads.create()["thread_id"]
    parts = list(sdk.runs.stream(thread_id, "explode", input={}))
    assert parts[-1].event == "error"
    assert parts[-1].data["error"] == "RuntimeError" and "boom" in parts[-1].data["message"]
    assert sdk.threads.get(thread_id)["status"] == "error"
    result = sdk.runs.wait(thread_id, "explode", input={}, raise_error=False)
    assert result["__error__"]["error"] == "RuntimeError"


def test_sessions_cross_between_the_drf_api_and_the_protocol(
    sdk: Any, alice: Any, token_of: Any
) -> None:
    started = services.start_session("interview", {"topic": "Django"}, owner=alice)
    thread = sdk.threads.get(started.thread_id)
    assert thread["status"] == "interrupted"
    answered = sdk.runs.wait(started.thread_id, "interview", command={"resume": "Ada"})
    assert answered["__interrupt__"][0]["value"].startswith("Thanks Ada.")

    thread_id = sdk.threads.create()["thread_id"]
    sdk.runs.wait(thread_id, "interview", input={})
    session = Session.objects.get(thread_id=thread_id)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_of(alice)}")
    body = api.get(f"/api/sessions/{session.pk}/").json()
    assert body["status"] == "interrupted" and body["interrupts"][0]["value"].startswith("Hi!")
    resumed = api.post(f"/api/sessions/{session.pk}/resume/", {"value": "Ada"}, format="json")
    assert resumed.status_code == 200
    assert session.runs.last().channel == RunChannel.API
    assert sdk.threads.get_state(thread_id)["values"]["name"] == "Ada"


def test_a_thread_that_has_not_run_stays_out_of_the_api_and_admin(
    sdk: Any, alice: Any, token_of: Any, django_user_model: Any
) -> None:
    waiting = sdk.threads.create()["thread_id"]  # no graph yet: chosen by its first run
    ran = sdk.threads.create()["thread_id"]
    sdk.runs.wait(ran, "interview", input={})
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_of(alice)}")
    listed = {s["thread_id"] for s in api.get("/api/sessions/").json()["results"]}
    assert ran in listed and waiting not in listed
    admin = APIClient()
    admin.force_login(django_user_model.objects.create_superuser("root"))
    page = admin.get("/admin/yamlgraph_django/session/")
    assert page.status_code == 200
    html = page.content.decode()
    assert str(Session.objects.get(thread_id=ran).pk) in html
    assert str(Session.objects.get(thread_id=waiting).pk) not in html
    # Its first run gives it the graph; from then on it is a session like any other.
    sdk.runs.wait(waiting, "interview", input={})
    listed = {s["thread_id"] for s in api.get("/api/sessions/").json()["results"]}
    assert waiting in listed
