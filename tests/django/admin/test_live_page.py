"""The session page of a run in flight carries what session_live.js follows: the event
stream from the log position the page shows, and a "Live steps" area; a page with
nothing running, or a project without the API, carries neither. (The browser test
tests/browser/test_live.py watches the steps arrive.)"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.test import override_settings
from django.urls import path, reverse

from tests.django.admin.conftest import messages_of, url
from tests.django.admin.test_session_buttons import answer
from tests.django.conftest import TASKS_MODULE
from yamlgraph_django import services
from yamlgraph_django.events import event_log
from yamlgraph_django.models import SessionStatus
from yamlgraph_django.services.run_events import read_events

pytestmark = pytest.mark.django_db

#: A queue nobody works: answers given in the admin stay pending, as on a busy worker.
UNWORKED_QUEUE = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}

#: A project that mounts the admin but not the API (used as ROOT_URLCONF below).
urlpatterns = [path("admin/", admin.site.urls)]


def stream_of(page: str) -> str | None:
    found = re.search(r'class="yamlgraph-picture"[^>]* data-stream="([^"]+)"', page)
    return html.unescape(found[1]) if found else None


@pytest.fixture
def background(yamlgraph_settings: dict[str, Any]) -> Iterator[None]:
    with override_settings(
        YAMLGRAPH={**yamlgraph_settings, "RUN_MODE": "background"}, TASKS=UNWORKED_QUEUE
    ):
        yield


def test_an_answer_run_in_the_background_is_followed_from_where_the_page_is(
    admin_client, start, background
):
    session = start("interview", background=False)  # ran to its first question, logged

    response = answer(admin_client, session, "Ada")

    session.refresh_from_db()
    assert session.status == SessionStatus.PENDING
    page = response.content.decode()
    assert any("its steps show below as they happen" in m for m in messages_of(response))
    newest = read_events(session.pk)[-1].id
    stream = reverse("yamlgraph_api:session-stream", args=[session.pk])
    assert stream_of(page) == f"{stream}?after={newest}"  # the first run is not replayed
    assert 'class="yamlgraph-live" hidden' in page and "Live steps" in page
    assert "yamlgraph_django/session_live.js" in page
    assert finders.find("yamlgraph_django/session_live.js")  # shipped with the app


def test_a_session_with_nothing_running_is_not_followed(admin_client, start):
    session = start("interview")

    page = admin_client.get(url("session_change", session.pk)).content.decode()

    assert session.status == SessionStatus.INTERRUPTED
    assert stream_of(page) is None
    assert "Live steps" not in page


def test_a_queued_session_with_an_empty_log_is_followed_from_the_start(
    admin_client, graphs, background
):
    session = services.start_session("interview")

    page = admin_client.get(url("session_change", session.pk)).content.decode()

    assert session.status == SessionStatus.PENDING
    assert stream_of(page) == reverse("yamlgraph_api:session-stream", args=[session.pk])


@override_settings(ROOT_URLCONF=__name__)
def test_without_the_api_the_page_says_to_reload(admin_client, start, background):
    session = start("interview", background=False)

    response = answer(admin_client, session, "Ada")

    assert any("reload this page to follow it" in m for m in messages_of(response))
    assert stream_of(response.content.decode()) is None


def test_a_long_log_is_followed_from_its_newest_event(admin_client, graphs, background):
    session = services.start_session("interview")
    for index in range(501):  # each append is one row; a read returns at most 500 rows
        ids = event_log().append(str(session.pk), None, [("custom", {"index": index})])

    page = admin_client.get(url("session_change", session.pk)).content.decode()

    assert stream_of(page).endswith(f"?after={ids[-1]}")
