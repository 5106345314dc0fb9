"""Start and resume are rate-limited per user (THROTTLE_RATES), on the API and on the
LangGraph protocol's runs: over the rate is a 429 with `Retry-After`, and another user
is not held back."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.django.api.support import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_rates(yamlgraph_settings):
    value = {**yamlgraph_settings, "THROTTLE_RATES": {"start": "2/min", "resume": "1/min"}}
    with override_settings(YAMLGRAPH=value):
        yield value


def test_starts_over_the_rate_get_429_with_retry_after(api, slow_rates, bob, client_for):
    for _ in range(2):
        assert api.post("/api/sessions/", {"graph": "interview"}, format="json").status_code == 201

    refused = api.post("/api/sessions/", {"graph": "interview"}, format="json")

    assert_error(refused, 429, "throttled")
    assert 1 <= int(refused["Retry-After"]) <= 60
    other = client_for(bob).post("/api/sessions/", {"graph": "interview"}, format="json")
    assert other.status_code == 201  # per user
    assert api.get("/api/sessions/").status_code == 200  # reading is not throttled


def test_resumes_have_their_own_rate(api, slow_rates):
    session = api.post("/api/sessions/", {"graph": "interview"}, format="json").json()
    url = f"/api/sessions/{session['id']}/resume/"
    assert api.post(url, {"value": "Ada"}, format="json").status_code == 200

    assert_error(api.post(url, {"value": "more"}, format="json"), 429, "throttled")


def test_lg_runs_are_throttled_too(api, slow_rates):
    thread = api.post("/lg/threads", {}, format="json").json()["thread_id"]
    body = {"assistant_id": "interview", "input": {}}
    first = api.post(f"/lg/threads/{thread}/runs/wait", body, format="json")
    second = api.post("/lg/runs/wait", body, format="json")
    third = api.post(f"/lg/threads/{thread}/runs/stream", body, format="json")

    assert first.status_code == 200 and second.status_code == 200
    assert third.status_code == 429 and third["Retry-After"]
    resumed = api.post(
        f"/lg/threads/{thread}/runs/wait",
        {"assistant_id": "interview", "command": {"resume": "Ada"}},
        format="json",
    )
    assert resumed.status_code == 200  # a resume counts against the resume rate
