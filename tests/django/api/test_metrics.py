"""`/metrics` in Prometheus' format: a session's runs and answers are counted (by graph
and outcome), questions and queued runs are read from the database, requests are timed
by door; off (404) unless YAMLGRAPH["METRICS"], and behind a token when one is set.
(Several gunicorn workers adding up: tests/multiprocess/test_operations.py.)"""

from __future__ import annotations

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def scrape(client: APIClient | None = None, **headers: str) -> dict[tuple[str, tuple], float]:
    response = (client or APIClient()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_on(yamlgraph_settings):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "METRICS": True}):
        yield


def test_metrics_are_off_unless_enabled(yamlgraph_settings):
    assert APIClient().get("/metrics").status_code == 404


def test_a_sessions_runs_and_answers_are_counted(
    api, metrics_on, django_capture_on_commit_callbacks
):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):  # outcomes count once committed
        session = api.post("/api/sessions/", {"graph": "interview"}, format="json").json()
    middle = scrape()
    for answer in ("Ada", "ship it"):
        url = f"/api/sessions/{session['id']}/resume/"
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post(url, {"value": answer}, format="json").status_code == 200
    after = scrape()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("yamlgraph_runs_started_total", graph="interview", kind="start") == 1
    assert grew("yamlgraph_runs_started_total", graph="interview", kind="resume") == 2
    assert grew("yamlgraph_runs_finished_total", graph="interview", outcome="interrupted") == 2
    assert grew("yamlgraph_runs_finished_total", graph="interview", outcome="completed") == 1
    assert grew("yamlgraph_run_duration_seconds_count", graph="interview", outcome="completed") == 1
    assert grew("yamlgraph_time_to_answer_seconds_count", graph="interview") == 2
    assert value(middle, "yamlgraph_questions_open", graph="interview") == 1
    assert value(after, "yamlgraph_questions_open", graph="interview") == 0
    assert (
        grew(
            "yamlgraph_http_request_duration_seconds_count", door="api", method="POST", status="201"
        )
        == 1
    )
    assert (
        grew(
            "yamlgraph_http_request_duration_seconds_count", door="api", method="POST", status="200"
        )
        == 2
    )
    assert grew("yamlgraph_event_log_lag_seconds_count") >= 3
    assert value(after, "yamlgraph_runs_queued") == 0
    assert value(after, "yamlgraph_workers_alive") == 0


def test_lg_and_admin_requests_are_timed_by_their_door(api, metrics_on):
    before = scrape()
    api.get("/lg/info")
    APIClient().get("/admin/login/")
    after = scrape()
    lg = (
        "yamlgraph_http_request_duration_seconds_count",
        {"door": "lg", "method": "GET", "status": "200"},
    )
    admin = (
        "yamlgraph_http_request_duration_seconds_count",
        {"door": "admin", "method": "GET", "status": "200"},
    )
    assert value(after, lg[0], **lg[1]) - value(before, lg[0], **lg[1]) == 1
    assert value(after, admin[0], **admin[1]) - value(before, admin[0], **admin[1]) == 1


def test_a_store_outage_is_counted(api, yamlgraph_settings):
    from tests.servers import free_port

    broken = {
        **yamlgraph_settings,
        "METRICS": True,
        "CHECKPOINTER_OVERRIDE": {"type": "redis", "url": f"redis://127.0.0.1:{free_port()}/0"},
    }
    with override_settings(YAMLGRAPH=broken):
        before = scrape()
        assert api.post("/api/sessions/", {"graph": "interview"}, format="json").status_code == 503
        after = scrape()
    name = "yamlgraph_store_errors_total"
    assert value(after, name, store="checkpointer") > value(before, name, store="checkpointer")


def test_a_token_guards_the_scrape(yamlgraph_settings):
    value_ = {**yamlgraph_settings, "METRICS": True, "METRICS_TOKEN": "t0ken"}
    with override_settings(YAMLGRAPH=value_):
        assert APIClient().get("/metrics").status_code == 401
        assert scrape(HTTP_AUTHORIZATION="Bearer t0ken")


def test_without_prometheus_client_the_error_names_the_extra(yamlgraph_settings, monkeypatch):
    """A project that turns metrics on without the [metrics] extra is told what to
    install: by the system check and by /metrics itself."""
    import sys

    from django.core.checks import run_checks

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "METRICS": True}):
        [error] = [m for m in run_checks(tags=["yamlgraph"]) if m.id == "yamlgraph.E011"]
        response = APIClient().get("/metrics")
    assert "pip install yamlgraph-django[metrics]" in error.msg
    assert response.status_code == 503
    assert b"pip install yamlgraph-django[metrics]" in response.content
