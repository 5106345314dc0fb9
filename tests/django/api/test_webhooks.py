"""A webhook given in the start request: refused with a 400 naming it when it is no
http(s) URL, else POSTed the session on each interruption and at the end."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from tests.django.api.support import assert_error
from tests.django.webhook_receiver import IMMEDIATE, LOCAL_RECEIVER, SECRET, WebhookReceiver, signed
from yamlgraph_django.models import Session

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "example.com/hook",
        "http://",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "https://user:pw@example.com/",
        "http://example.com/" + "x" * 2000,
    ],
)
def test_a_webhook_that_is_not_an_http_url_is_a_400_naming_it(api, url):
    response = api.post("/api/sessions/", {"graph": "interview", "webhook": url}, format="json")

    assert "webhook" in assert_error(response, 400, "invalid_input")["errors"]
    assert not Session.objects.exists()


def test_the_start_requests_webhook_hears_each_question_and_the_end(
    api, yamlgraph_settings, django_capture_on_commit_callbacks
):
    settings = {
        **yamlgraph_settings,
        **LOCAL_RECEIVER,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_BACKOFF_SECONDS": 0.01,
    }
    with (
        override_settings(YAMLGRAPH=settings, TASKS=IMMEDIATE),
        WebhookReceiver(fail_first=1) as receiver,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            started = api.post(
                "/api/sessions/", {"graph": "interview", "webhook": receiver.url}, format="json"
            )
        url = f"/api/sessions/{started.json()['id']}/resume/"
        for answer in ("Ada", "ship it"):
            with django_capture_on_commit_callbacks(execute=True):
                assert api.post(url, {"value": answer}, format="json").status_code == 200

    assert started.status_code == 201
    assert Session.objects.get().webhook == receiver.url
    assert all(signed(headers, body) for headers, body in receiver.accepted)
    bodies = [json.loads(body) for _headers, body in receiver.accepted]
    assert [(b["event"], b["status"]) for b in bodies] == [
        ("session.interrupted", "interrupted"),
        ("session.interrupted", "interrupted"),
        ("session.completed", "completed"),
    ]
    assert bodies[0]["interrupts"] == started.json()["interrupts"]
    assert len(receiver.refused) == 3
