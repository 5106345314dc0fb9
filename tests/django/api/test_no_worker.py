"""A run queued while no worker is alive says so where its client looks: the session
payload, the protocol's run, the event streams; a join or a wait answers JSON at once
(503 `no_worker`) instead of holding the request until the server kills it; and the
admin shows a banner. (A real worker taking the run over is in
tests/multiprocess/test_operations.py.)"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.django.api.support import assert_error
from yamlgraph_django.models import Run, RunStatus, WorkerHeartbeat

pytestmark = pytest.mark.django_db

QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture
def no_worker(yamlgraph_settings):
    """Tasks go to the database queue, and no worker works it."""
    value = {**yamlgraph_settings, "EVENTS_HEARTBEAT_SECONDS": 0.2, "WAIT_SECONDS": 10}
    with override_settings(TASKS=QUEUE, YAMLGRAPH=value):
        yield value


def start_in_background(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/sessions/", {"graph": "interview", "background": True}, format="json"
        )
    assert response.status_code == 202, response.json()
    return response.json()


def test_the_session_says_it_waits_for_a_worker(api, no_worker, django_capture_on_commit_callbacks):
    started = start_in_background(api, django_capture_on_commit_callbacks)

    body = api.get(f"/api/sessions/{started['id']}/").json()

    assert body["status"] == "pending"
    notice = body["waiting_for_worker"]
    assert notice["code"] == "no_worker" and notice["last_worker_seen"] is None
    assert "manage.py yamlgraph worker" in notice["detail"]
    assert started["waiting_for_worker"]["code"] == "no_worker"  # the 202 says it too


def test_with_a_live_worker_there_is_no_notice(api, no_worker, django_capture_on_commit_callbacks):
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w", started_at=now, seen_at=now)
    started = start_in_background(api, django_capture_on_commit_callbacks)

    assert api.get(f"/api/sessions/{started['id']}/").json()["waiting_for_worker"] is None


def test_the_stream_says_it_between_heartbeats(api, no_worker, django_capture_on_commit_callbacks):
    started = start_in_background(api, django_capture_on_commit_callbacks)

    response = api.get(f"/api/sessions/{started['id']}/stream/")
    seen = b""
    deadline = time.monotonic() + 10
    for chunk in response.streaming_content:
        seen += chunk
        if b"event: waiting_for_worker" in seen or time.monotonic() > deadline:
            break
    response.close()

    assert b"event: waiting_for_worker" in seen
    assert b"no_worker" in seen and b"manage.py yamlgraph worker" in seen


def lg_create(api, django_capture_on_commit_callbacks):
    thread = api.post("/lg/threads", {}, format="json").json()["thread_id"]
    with django_capture_on_commit_callbacks(execute=True):
        run = api.post(
            f"/lg/threads/{thread}/runs", {"assistant_id": "interview", "input": {}}, format="json"
        )
    assert run.status_code == 200, run.json()
    return thread, run.json()


def test_lg_run_join_and_wait_answer_json_at_once(
    api, no_worker, django_capture_on_commit_callbacks
):
    thread, run = lg_create(api, django_capture_on_commit_callbacks)
    assert run["status"] == "pending" and run["waiting_for_worker"]["code"] == "no_worker"

    got = api.get(f"/lg/threads/{thread}/runs/{run['run_id']}").json()
    started = time.monotonic()
    joined = api.get(f"/lg/threads/{thread}/runs/{run['run_id']}/join")
    waited = api.post(
        f"/lg/threads/{thread}/runs/wait",
        {"assistant_id": "interview", "input": {}, "multitask_strategy": "enqueue"},
        format="json",
    )
    took = time.monotonic() - started

    assert got["waiting_for_worker"]["code"] == "no_worker"
    assert "manage.py yamlgraph worker" in assert_error(joined, 503, "no_worker")["detail"]
    assert_error(waited, 503, "no_worker")
    assert took < 6  # not WAIT_SECONDS, and far from any server timeout
    assert Run.objects.get().status == RunStatus.QUEUED  # nothing changed


def test_a_join_that_outlasts_wait_seconds_answers_202_with_the_run(
    api, no_worker, django_capture_on_commit_callbacks
):
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="busy", started_at=now, seen_at=now)
    thread, run = lg_create(api, django_capture_on_commit_callbacks)

    with override_settings(YAMLGRAPH={**no_worker, "WAIT_SECONDS": 0.5}):
        joined = api.get(f"/lg/threads/{thread}/runs/{run['run_id']}/join")

    assert joined.status_code == 202
    assert joined.json()["status"] == "pending" and "join again" in joined.json()["detail"]
    assert joined["Retry-After"] == "1"


def test_the_admin_shows_a_banner(
    api, no_worker, django_capture_on_commit_callbacks, client, django_user_model
):
    started = start_in_background(api, django_capture_on_commit_callbacks)
    client.force_login(django_user_model.objects.create_superuser("root"))
    detail = client.get(f"/admin/yamlgraph_django/session/{started['id']}/change/")
    assert "yamlgraph-no-worker" in detail.content.decode()

    page = client.get("/admin/yamlgraph_django/session/").content.decode()

    assert "yamlgraph-no-worker" in page and "manage.py yamlgraph worker" in page
    WorkerHeartbeat.objects.create(
        worker_id="w", started_at=timezone.now(), seen_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert (
        "yamlgraph-no-worker" not in client.get("/admin/yamlgraph_django/session/").content.decode()
    )
