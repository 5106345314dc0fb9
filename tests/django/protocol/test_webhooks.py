"""The protocol's `webhook` run key: the thread is POSTed on interruption and at the end,
as the DRF API's sessions are (LangGraph's own SDK sends the key)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from django.test import override_settings

from tests.django.webhook_receiver import IMMEDIATE, LOCAL_RECEIVER, SECRET, WebhookReceiver, signed
from yamlgraph_django.models import Session


def test_a_runs_webhook_is_posted_the_thread_signed(sdk: Any, yamlgraph_settings: Any) -> None:
    settings = {
        **yamlgraph_settings,
        **LOCAL_RECEIVER,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_BACKOFF_SECONDS": 0.01,
    }
    with override_settings(YAMLGRAPH=settings, TASKS=IMMEDIATE), WebhookReceiver() as receiver:
        thread_id = sdk.threads.create()["thread_id"]
        sdk.runs.wait(thread_id, "interview", input={"topic": "Django"}, webhook=receiver.url)
        sdk.runs.wait(thread_id, "interview", command={"resume": "Ada"})
        sdk.runs.wait(thread_id, "interview", command={"resume": "ship it"})

    assert Session.objects.get(thread_id=thread_id).webhook == receiver.url
    assert all(signed(headers, body) for headers, body in receiver.accepted)
    events = [json.loads(body)["event"] for _headers, body in receiver.accepted]
    assert events == ["session.interrupted", "session.interrupted", "session.completed"]


def test_a_webhook_that_is_not_an_http_url_is_a_400(sdk: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]

    with pytest.raises(httpx.HTTPStatusError) as refused:
        sdk.runs.wait(thread_id, "interview", input={}, webhook="ftp://example.com/")

    assert refused.value.response.status_code == 400
    assert Session.objects.get(thread_id=thread_id).webhook == ""
