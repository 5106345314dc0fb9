"""A checkpoint store that goes down, seen through the LangGraph protocol at /lg/.

The same real Redis (or Postgres) behind a real TCP proxy as `test_outages`: with the
proxy stopped, every /lg/ call that needs the store answers 503 JSON
`checkpointer_unavailable` within OUTAGE_BOUND seconds (never a 500, never a 200 with
`__error__`), the thread stays as it was (not `failed`), no temporary thread is left
behind, and the same calls work once the store is back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.django.api.support import assert_error
from tests.django.api.test_outages import OUTAGE_BOUND, proxied_store, timed  # noqa: F401
from yamlgraph_django.models import Run, RunStatus, Session

pytestmark = pytest.mark.django_db


def protocol_calls(api: Any, thread_id: str) -> dict[str, Callable[[], Any]]:
    """The /lg/ calls that read or change a thread's checkpoints."""
    base = f"/lg/threads/{thread_id}"
    resume = {"assistant_id": "interview", "command": {"resume": "Ada"}}
    return {
        "thread get": lambda: api.get(f"{base}"),
        "state": lambda: api.get(f"{base}/state"),
        "history": lambda: api.post(f"{base}/history", {"limit": 5}, format="json"),
        "runs.wait": lambda: api.post(f"{base}/runs/wait", resume, format="json"),
        "runs.stream": lambda: api.post(f"{base}/runs/stream", resume, format="json"),
        "runs.create": lambda: api.post(f"{base}/runs", resume, format="json"),
        "stateless runs.wait": lambda: api.post(
            "/lg/runs/wait", {"assistant_id": "interview", "input": {}}, format="json"
        ),
    }


def test_a_stopped_store_is_a_quick_503_on_every_protocol_call(api, start, proxied_store):  # noqa: F811
    session = start("interview")
    thread_id = Session.objects.get(pk=session["id"]).thread_id
    calls = protocol_calls(api, thread_id)
    assert calls["state"]().status_code == 200  # the saver's connections are open
    sessions_before = Session.objects.count()
    runs_before = Run.objects.count()

    proxied_store.stop()
    for name, call in calls.items():
        response, elapsed = timed(call)
        assert_error(response, 503, "checkpointer_unavailable")
        assert elapsed < OUTAGE_BOUND, f"{name} took {elapsed:.1f}s to answer 503"

    row = Session.objects.get(pk=session["id"])
    assert (row.status, row.interrupts, row.error) == ("interrupted", session["interrupts"], "")
    assert Session.objects.count() == sessions_before  # no orphan stateless thread
    # A run that met the outage is on record as failed by it (as on the API); no run is
    # left running or queued to go on later.
    for run in Run.objects.all()[runs_before:]:
        assert run.status == RunStatus.FAILED and "Unavailable" in run.error, run.error
    assert not Run.objects.filter(status__in=(RunStatus.RUNNING, RunStatus.QUEUED)).exists()

    proxied_store.start()
    state = calls["state"]()
    assert state.status_code == 200, state.content
    assert [i["id"] for i in state.json()["interrupts"]] == [i["id"] for i in session["interrupts"]]
    answered = calls["runs.wait"]()
    assert answered.status_code == 200, answered.content
    assert answered.json()["name"] == "Ada"
    assert "__error__" not in answered.json()


def test_a_hung_store_is_a_quick_503_on_the_protocol_too(api, start, proxied_store):  # noqa: F811
    session = start("interview")
    thread_id = Session.objects.get(pk=session["id"]).thread_id
    calls = protocol_calls(api, thread_id)
    assert calls["state"]().status_code == 200

    proxied_store.hang()
    for name in ("state", "history", "runs.wait"):
        response, elapsed = timed(calls[name])
        assert_error(response, 503, "checkpointer_unavailable")
        assert elapsed < OUTAGE_BOUND, f"{name} took {elapsed:.1f}s to answer 503"
    row = Session.objects.get(pk=session["id"])
    assert (row.status, row.interrupts) == ("interrupted", session["interrupts"])

    proxied_store.start()
    answered = calls["runs.wait"]()
    assert answered.status_code == 200, answered.content
    assert answered.json()["name"] == "Ada"
