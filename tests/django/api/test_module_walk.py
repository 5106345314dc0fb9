"""A walk through one warm resume (issue 19: "a walk through one resume visits each
module once"), through each door: the API, `/lg/`, the admin and the command.

A visit of a module is a call into it while none of its frames is on the stack (a
generator resumed by its reader is the same visit). So a door that hands its request to
the service once visits the service once, whatever the service calls in turn; a door
that goes back to the service for each step (resolve, plan, claim, run, read back)
visits it once per step, and so does a service that calls the engine step by step.
Measured with `sys.setprofile` on the request's thread.
"""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from yamlgraph_django.models import Session
from yamlgraph_django.services import run_events

pytestmark = pytest.mark.django_db(transaction=True)

#: The modules that decide and run: a resume enters each of them once.
RUN_MODULES = (
    "yamlgraph_django.services.lifecycle",
    "yamlgraph_django.services.thread_runs",
    "yamlgraph_django.services.engine",
)
#: The doors, which parse and present.
DOORS = (
    "yamlgraph_django.api.",
    "yamlgraph_django.protocol.",
    "yamlgraph_django.admin.",
    "yamlgraph_django.management.",
)


def module_of(frame: Any) -> str:
    return str(frame.f_globals.get("__name__", ""))


class Walk:
    """Visits per module of ours, and which door function called into which service
    function, while `call` runs."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.visits: Counter[str] = Counter()
        self.handovers: Counter[tuple[str, str]] = Counter()
        self.seen: dict[int, Any] = {}  # generator frames entered already (kept alive)
        sys.setprofile(self.profile)
        try:
            self.result = call()
        finally:
            sys.setprofile(None)

    def profile(self, frame: Any, event: str, _arg: Any) -> None:
        if event != "call":
            return
        module = module_of(frame)
        if not module.startswith(("yamlgraph_django", "yamlgraph.")):
            return
        if self.seen.get(id(frame)) is frame:
            return  # a generator resumed: the same visit
        self.seen[id(frame)] = frame
        outer = frame.f_back
        while outer is not None:
            if module_of(outer) == module:
                return  # nested in a visit still under way
            outer = outer.f_back
        self.visits[module] += 1
        caller = frame.f_back
        while caller is not None and not module_of(caller).startswith("yamlgraph_django"):
            caller = caller.f_back
        if caller is not None and module_of(caller).startswith(DOORS) and module in RUN_MODULES:
            self.handovers[(caller.f_code.co_name, f"{module}.{frame.f_code.co_name}")] += 1


@pytest.fixture(autouse=True)
def runs_as_short_as_in_production(
    yamlgraph_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Events written once at the run's end, no stop check: the run of milliseconds
    production has, however slow the machine (see test_query_counts)."""
    monkeypatch.setattr(run_events, "STOP_CHECK_SECONDS", 60.0)
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "EVENTS_FLUSH_SECONDS": 60}):
        yield


def api_resume(api: Any, session: Session, _admin: Any) -> None:
    url = f"/api/sessions/{session.pk}/resume/"
    response = api.post(url, {"value": "Ada"}, format="json")
    assert response.status_code == 200, response.content


def protocol_resume(api: Any, session: Session, _admin: Any) -> None:
    body = {"assistant_id": "interview", "command": {"resume": "Ada"}}
    response = api.post(f"/lg/threads/{session.thread_id}/runs/wait", body, format="json")
    assert response.status_code == 200, response.content


def admin_resume(_api: Any, session: Session, admin: Any) -> None:
    client = Client()
    client.force_login(admin)
    url = reverse("admin:yamlgraph_django_session_resume", args=[session.pk])
    ids = json.dumps([item["id"] for item in session.interrupts])
    response = client.post(url, {"interrupt_ids": ids, "answer_0": "Ada"})
    assert response.status_code == 302, response.content.decode()[:500]


def command_resume(_api: Any, session: Session, admin: Any) -> None:
    args = ("resume", str(session.pk), "--value", '"Ada"', "--user", admin.get_username())
    call_command("yamlgraph", *args, stdout=io.StringIO(), stdin=io.StringIO())


#: Each door's resume, and the one service call it hands the run to.
RESUMES = {
    "api": (api_resume, ("resume", "yamlgraph_django.services.lifecycle.resume_session")),
    "lg": (protocol_resume, ("start", "yamlgraph_django.services.thread_runs.submit_run")),
    "admin": (admin_resume, ("resume_view", "yamlgraph_django.services.lifecycle.resume_session")),
    "command": (
        command_resume,
        ("do_resume", "yamlgraph_django.services.lifecycle.resume_session"),
    ),
}


@pytest.mark.parametrize("door", RESUMES)
def test_a_resume_is_handed_to_the_service_once_and_enters_the_engine_once(
    api, start, admin_user, door
):
    resume, handover = RESUMES[door]
    start("interview", {"topic": "warm-up"})  # first request: lazy sync, compiled graph
    session = Session.objects.get(pk=start("interview", {"topic": "Django"})["id"])

    walk = Walk(lambda: resume(api, session, admin_user))

    session.refresh_from_db()
    assert session.interrupts[0]["value"].startswith("Thanks Ada"), session.interrupts
    assert dict(walk.handovers) == {handover: 1}
    entered = {module: walk.visits[module] for module in RUN_MODULES if walk.visits[module]}
    assert entered == {handover[1].rsplit(".", 1)[0]: 1, "yamlgraph_django.services.engine": 1}
