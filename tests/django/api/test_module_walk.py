"""A walk through one warm resume (issue 19: "a walk through one resume visits each
module once"), on the API and on `/lg/`.

A visit of a module is a call into it while none of its frames is on the stack (a
generator resumed by its reader is the same visit). So a door that hands its request to
the service once visits the service once, whatever the service calls in turn; a door
that goes back to the service for each step (resolve, plan, claim, run, read back)
visits it once per step, and so does a service that calls the engine step by step.
Measured with `sys.setprofile` on the request's thread.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from yamlgraph_django.services import run_events

pytestmark = pytest.mark.django_db(transaction=True)

#: The modules that decide and run: a resume enters each of them once.
RUN_MODULES = (
    "yamlgraph_django.services.lifecycle",
    "yamlgraph_django.services.thread_runs",
    "yamlgraph_django.services.engine",
)
#: The doors, which parse and present.
DOORS = ("yamlgraph_django.api.", "yamlgraph_django.protocol.", "yamlgraph_django.admin.")


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


RESUMES = {
    "api": (
        lambda api, session: api.post(
            f"/api/sessions/{session['id']}/resume/", {"value": "Ada"}, format="json"
        ),
        ("resume", "yamlgraph_django.services.lifecycle.resume_session"),
    ),
    "lg": (
        lambda api, session: api.post(
            f"/lg/threads/{session['thread_id']}/runs/wait",
            {"assistant_id": "interview", "command": {"resume": "Ada"}},
            format="json",
        ),
        ("start", "yamlgraph_django.services.thread_runs.submit_run"),
    ),
}


@pytest.mark.parametrize("door", RESUMES)
def test_a_resume_is_handed_to_the_service_once_and_enters_the_engine_once(api, start, door):
    resume, handover = RESUMES[door]
    start("interview", {"topic": "warm-up"})  # first request: lazy sync, compiled graph
    session = start("interview", {"topic": "Django"})

    walk = Walk(lambda: resume(api, session))

    assert walk.result.status_code == 200, walk.result.content
    assert "Thanks Ada" in str(walk.result.json())
    assert dict(walk.handovers) == {handover: 1}
    entered = {module: walk.visits[module] for module in RUN_MODULES if walk.visits[module]}
    assert entered == {handover[1].rsplit(".", 1)[0]: 1, "yamlgraph_django.services.engine": 1}
