"""A run that ends in milliseconds starts no thread of ours; one that lasts gets its heartbeat.

The lease renewal and the event log's delayed flush are scheduled on the process's one
clock thread (services.clock) and cancelled when the run ends first, so an answer that
takes milliseconds costs no thread start (before: a heartbeat and a timer per run).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.test import override_settings

from yamlgraph_django.services import clock, resume_session, start_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def started_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads started from now on (the real `Thread.start` runs)."""
    names: list[str] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        names.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    return names


def test_a_fast_run_starts_no_thread(synced_graphs: Any, started_threads: list[str]) -> None:
    clock.call_later(0, lambda: None)  # the process's clock thread is up
    time.sleep(0.05)
    started_threads.clear()

    session = start_session("interview", {"topic": "Django"})
    session = resume_session(session, "Ada")
    session = resume_session(session, "ship it")

    assert session.status == "completed"
    # LangGraph's own step executor (a ThreadPoolExecutor per invoke) is not ours.
    assert [name for name in started_threads if not name.startswith("ThreadPool")] == []


def test_the_clock_runs_what_is_due_and_skips_what_was_cancelled() -> None:
    ran: list[str] = []
    done = threading.Event()
    cancelled = clock.call_later(0.05, lambda: ran.append("cancelled"))
    clock.call_later(0.1, lambda: (ran.append("due"), done.set()))
    cancelled.cancel()

    assert done.wait(5)
    assert ran == ["due"]


def test_a_run_that_outlives_the_grace_starts_its_heartbeat(
    synced_graphs: Any, yamlgraph_settings: dict[str, Any], started_threads: list[str]
) -> None:
    """LEASE_SECONDS 0.6: the heartbeat starts after 0.1 s and renews every 0.2 s, so a
    run of a second keeps its claim and completes."""
    import pathlib
    import textwrap

    from yamlgraph_django import registry

    graph_dir = pathlib.Path(yamlgraph_settings["GRAPH_DIRS"][0])
    (graph_dir / "tools").mkdir(exist_ok=True)
    (graph_dir / "tools" / "naps.py").write_text(
        "import time\n\ndef nap(state):\n    time.sleep(1.0)\n    return {'done': 'yes'}\n"
    )
    (graph_dir / "nap.yaml").write_text(
        textwrap.dedent("""\
        version: "1.0"
        name: nap
        state:
          done: str
        tools:
          nap: {path: tools/naps.py, function: nap}
        nodes:
          work: {type: python, tool: nap}
        edges:
          - {from: START, to: work}
          - {from: work, to: END}
        """)
    )
    registry.sync_graphs()
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "LEASE_SECONDS": 0.6}):
        session = start_session("nap", {})
    assert session.status == "completed", session.error
    assert "yamlgraph-heartbeat" in started_threads
