"""The session page follows a run while it happens: each step shows up as it finishes,
the highlighted node moves with it, and the page lands on where the session ended, with
no reload by hand. Both ways a run leaves the request are covered: a run started in a
thread of the server (`stream=True`), and an answer given in the admin with RUN_MODE
"background", worked by django-tasks-db's worker."""

from __future__ import annotations

import json
import re
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from playwright.sync_api import expect

from yamlgraph_django import registry, services
from yamlgraph_django.models import Session, SessionStatus

STEP_SECONDS = 0.4
#: Long enough for a loaded machine; the runs take about two seconds in all.
WAIT_MS = 15_000

SLOW_GRAPH = """\
version: "1.0"
name: slow_steps
description: Three slow steps, a question, one more slow step.

state:
  gate: {type: str, required: true}
  fetched: int
  checked: bool
  decision: str
  finished: str

tools:
  wait_for_gate: {path: tools/slow_steps.py, function: wait_for_gate}
  fetch: {path: tools/slow_steps.py, function: fetch}
  check: {path: tools/slow_steps.py, function: check}
  finish: {path: tools/slow_steps.py, function: finish}

nodes:
  opened:
    type: python
    tool: wait_for_gate
  fetch:
    type: python
    tool: fetch
  check:
    type: python
    tool: check
  ask:
    type: interrupt
    message:
      question: "Go on?"
      choices: ["go", "stop"]
    resume_key: decision
  finish:
    type: python
    tool: finish

edges:
  - {from: START, to: opened}
  - {from: opened, to: fetch}
  - {from: fetch, to: check}
  - {from: check, to: ask}
  - {from: ask, to: finish}
  - {from: finish, to: END}
"""

SLOW_TOOLS = f'''\
"""Steps that take a while, so a page can watch them happen."""

import time
from pathlib import Path


def wait_for_gate(state):
    """The test opens the gate (a file) once the page is shown, so no step is missed."""
    deadline = time.monotonic() + 15
    while not Path(state["gate"]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return {{}}


def fetch(state):
    time.sleep({STEP_SECONDS})
    return {{"fetched": 3}}


def check(state):
    time.sleep({STEP_SECONDS})
    return {{"checked": True}}


def finish(state):
    time.sleep({STEP_SECONDS})
    return {{"finished": state.get("decision")}}
'''

#: Records, across reloads (sessionStorage), what the live list and the highlight were
#: after each change of the page, so no step is missed however fast they come.
RECORDER = """
(() => {
  const KEY = "yamlgraph-seen";
  const look = () => {
    const entry = JSON.stringify({
      steps: [...document.querySelectorAll(".yamlgraph-live-steps li[data-node]")]
        .map((item) => item.dataset.node),
      current: [...document.querySelectorAll("svg.yamlgraph-diagram g.node.current")]
        .map((node) => node.dataset.node),
    });
    const seen = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    if (seen[seen.length - 1] !== entry) {
      seen.push(entry);
      sessionStorage.setItem(KEY, JSON.stringify(seen));
    }
  };
  new MutationObserver(look).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["class"],
  });
})();
"""


def live_progress(page: Any) -> list[dict[str, list[str]]]:
    """What the live list and the highlight went through while steps were listed; then
    forgotten, so the next run's record starts empty."""
    seen = page.evaluate(
        "() => { const s = sessionStorage.getItem('yamlgraph-seen') || '[]';"
        " sessionStorage.removeItem('yamlgraph-seen'); return JSON.parse(s); }"
    )
    entries = [json.loads(entry) for entry in seen]
    return [entry for entry in entries if entry["steps"]]


def status_shown(page: Any) -> Any:
    return page.locator(".field-status_badge .yamlgraph-status")


def current_nodes(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "svg.yamlgraph-diagram g.node.current", "nodes => nodes.map(n => n.dataset.node)"
    )


@pytest.fixture
def slow_graph(graphs: dict[str, Any], tmp_path: Path) -> Any:
    graph_dir = tmp_path / "graphs"
    (graph_dir / "slow_steps.yaml").write_text(SLOW_GRAPH)
    (graph_dir / "tools" / "slow_steps.py").write_text(textwrap.dedent(SLOW_TOOLS))
    report = registry.sync_graphs()
    assert report.ok, str(report)
    return report.definitions["slow_steps"]


def work_the_queue() -> threading.Thread:
    """django-tasks-db's worker, as `manage.py yamlgraph worker` runs it, in a thread of
    this process (the test database is this process's): runs what is queued, then stops."""
    from django.db import connections
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["*"],
        interval=0.05,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="browser-test-worker",
        excluded_queue_names=[],
    )

    def body() -> None:
        try:
            worker.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_the_session_page_follows_its_runs_as_they_happen(page, slow_graph, tmp_path):
    page.context.add_init_script(RECORDER)
    gate = tmp_path / "page-is-open"
    session = services.start_session(slow_graph, {"gate": str(gate)}, stream=True)

    page.goto(f"/admin/yamlgraph_django/session/{session.pk}/change/")
    expect(page.locator(".yamlgraph-live")).to_be_visible()
    assert "Live steps" in page.inner_text(".yamlgraph-live")
    assert page.locator(".yamlgraph-picture").get_attribute("data-status") in ("pending", "running")
    gate.touch()

    # No reload by hand: the page reloads itself when the run stops at the question.
    expect(status_shown(page)).to_have_text(re.compile("interrupted", re.I), timeout=WAIT_MS)
    assert live_progress(page) == [
        {"steps": ["opened"], "current": ["opened"]},
        {"steps": ["opened", "fetch"], "current": ["fetch"]},
        {"steps": ["opened", "fetch", "check"], "current": ["check"]},
    ]
    assert current_nodes(page) == ["ask"]  # the server's highlight: where it waits
    assert page.locator(".yamlgraph-live").count() == 0  # nothing runs: nothing to follow

    # Answered in the admin with background runs: the page after the answer follows the
    # run a worker does, from where the page is (the first run's steps are not replayed).
    with override_settings(YAMLGRAPH={**settings.YAMLGRAPH, "RUN_MODE": "background"}):
        page.click(".object-tools a.yamlgraph-resume")
        page.click("button.yamlgraph-choice:text-is('go')")
        page.wait_for_selector(".field-status_badge")
        assert "its steps show below as they happen" in page.inner_text(".messagelist")
        expect(page.locator(".yamlgraph-live")).to_be_visible()
        assert Session.objects.get().status == SessionStatus.PENDING  # queued, not yet run
        worker = work_the_queue()

        expect(status_shown(page)).to_have_text(re.compile("completed", re.I), timeout=WAIT_MS)
    assert live_progress(page) == [  # the question takes its answer, then the last step
        {"steps": ["ask"], "current": ["ask"]},
        {"steps": ["ask", "finish"], "current": ["finish"]},
    ]
    assert current_nodes(page) == ["END"]
    worker.join(timeout=10)
    assert Session.objects.get().output["finished"] == "go"
