"""`GET /api/health/` and `/lg/ok`: the database, the checkpointer, the event log and
the workers, 503 while one is down and 200 again once it is back."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from tests.servers import ValkeyServer, free_port
from yamlgraph_django.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db

QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def seen(seconds_ago: float = 0.0, worker_id: str = "w1") -> WorkerHeartbeat:
    """A worker's heartbeat row as `manage.py yamlgraph worker` writes it (the real
    worker process writing it is tests/multiprocess/test_operations.py)."""
    stamp = timezone.now() - dt.timedelta(seconds=seconds_ago)
    return WorkerHeartbeat.objects.create(
        worker_id=worker_id, hostname="h", pid=1, started_at=stamp, seen_at=stamp
    )


def health(client: APIClient | None = None):
    return (client or APIClient()).get("/api/health/")


def test_all_up_is_200_with_each_part_and_no_login_needed(yamlgraph_settings):
    seen(1)
    with override_settings(TASKS=QUEUE):
        response = health()

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "checkpointer", "events", "worker"}
    assert all(part["status"] == "ok" for part in body["checks"].values())
    assert body["checks"]["checkpointer"]["type"] == "sqlite"
    assert body["checks"]["worker"]["alive"] == 1
    assert response["Cache-Control"] == "no-store"


def test_no_worker_is_503_naming_the_command_for_staff(yamlgraph_settings, make_user):
    seen(600)  # a worker that stopped writing ten minutes ago
    staff = APIClient()
    staff.force_authenticate(make_user("root", staff=True))
    with override_settings(TASKS=QUEUE):
        anonymous = health()
        detailed = health(staff)

    assert anonymous.status_code == 503 and anonymous["Retry-After"]
    assert anonymous.json()["checks"]["worker"]["status"] == "down"
    assert "error" not in anonymous.json()["checks"]["worker"]  # no details for strangers
    worker = detailed.json()["checks"]["worker"]
    assert "manage.py yamlgraph worker" in worker["error"] and worker["alive"] == 0


def test_a_backend_that_runs_tasks_in_process_needs_no_worker(yamlgraph_settings):
    assert health().status_code == 200  # the tests' immediate backend


def test_a_checkpointer_that_does_not_answer_is_503_within_the_timeout(yamlgraph_settings):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    value = {
        **yamlgraph_settings,
        "CHECKPOINTER_OVERRIDE": {"type": "redis", "url": closed},
        "HEALTH_TIMEOUT_SECONDS": 2.0,
    }
    with override_settings(YAMLGRAPH=value):
        started = time.monotonic()
        response = health()
        took = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["checks"]["checkpointer"]["status"] == "down"
    assert response.json()["checks"]["database"]["status"] == "ok"
    assert took < 5


def test_the_event_log_down_is_503_and_back_up_is_200(yamlgraph_settings):
    server = ValkeyServer().start()
    port = server.port
    try:
        value = {**yamlgraph_settings, "EVENTS_URL": server.url, "HEALTH_TIMEOUT_SECONDS": 2.0}
        with override_settings(YAMLGRAPH=value):
            assert health().status_code == 200
            server.stop()
            down = health()
            server = ValkeyServer(port=port).start()
            up = health()
    finally:
        server.stop()

    assert down.status_code == 503
    assert down.json()["checks"]["events"]["status"] == "down"
    assert up.status_code == 200, up.json()


def test_lg_ok_reports_the_same(yamlgraph_settings, make_user):
    with override_settings(TASKS=QUEUE):
        down = APIClient().get("/lg/ok")
        seen(0)
        up = APIClient().get("/lg/ok")

    assert down.status_code == 503 and down.json()["ok"] is False
    assert down.json()["checks"]["worker"]["status"] == "down"
    assert up.status_code == 200 and up.json()["ok"] is True
