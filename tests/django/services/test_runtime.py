"""The per-process caches behind the service: where checkpoints go, and what is reused.

Operators choose storage per deploy (CHECKPOINTER_OVERRIDE), graph authors per graph
(`checkpointer:`), the project a default; every graph on one store shares one saver,
and changing YAMLGRAPH closes the old savers.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from yamlgraph.llm import FakeChatModel
from yamlgraph_django import registry
from yamlgraph_django.services import resume_session, start_session, stores

pytestmark = pytest.mark.django_db

OWN_STORE_GRAPH = """\
name: own-store
checkpointer: {{type: sqlite, path: "{path}"}}
state: {{answer: str}}
nodes:
  ask: {{type: interrupt, message: "Where am I stored?", resume_key: answer}}
edges:
  - {{from: START, to: ask}}
  - {{from: ask, to: END}}
"""


def threads_in(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT thread_id FROM checkpoints")}


def scripted_model(**kwargs: Any) -> FakeChatModel:
    """An LLM_FACTORY for the test below: every model answers the same."""
    return FakeChatModel(responses=["A summary from the project's factory."])


def test_checkpointer_precedence(graphs, graph_dir, tmp_path, checkpoint_file, yamlgraph_settings):
    own = tmp_path / "own.sqlite3"
    (graph_dir / "own.yaml").write_text(OWN_STORE_GRAPH.format(path=own))
    registry.sync_graphs()

    by_default = start_session("interview")
    by_graph = start_session("own-store")

    assert by_default.thread_id in threads_in(checkpoint_file)
    assert by_graph.thread_id in threads_in(own)
    assert by_graph.thread_id not in threads_in(checkpoint_file)

    override = tmp_path / "override.sqlite3"
    store = {"type": "sqlite", "path": override}
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": store}):
        overridden = start_session("own-store")
    assert threads_in(override) == {overridden.thread_id}
    assert overridden.thread_id not in threads_in(own)


def test_compiled_apps_and_savers_are_reused(graphs):
    interview = stores.get_app(graphs["interview"])

    assert stores.get_app(graphs["interview"]) is interview
    assert stores.get_app(graphs["approval"]) is not interview
    # Both graphs store in the default checkpointer: one saver, one connection.
    assert stores.saver_for(graphs["approval"]) is stores.saver_for(graphs["interview"])
    assert interview.checkpointer is stores.saver_for(graphs["interview"])


def test_first_use_from_many_threads_opens_one_saver(tmp_path):
    config = {"type": "sqlite", "path": str(tmp_path / "shared.sqlite3")}
    barrier = threading.Barrier(8)
    savers: list[Any] = []

    def open_saver() -> None:
        barrier.wait(timeout=10)
        savers.append(stores.get_saver(config))

    threads = [threading.Thread(target=open_saver) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(savers) == 8
        assert len({id(saver) for saver in savers}) == 1
    finally:
        stores.clear_caches()


def test_changing_settings_closes_savers(graphs, yamlgraph_settings):
    saver = stores.saver_for(graphs["interview"])
    saver.conn.execute("SELECT 1")

    with override_settings(YAMLGRAPH={**yamlgraph_settings, "SESSION_TTL_MINUTES": 5}):
        with pytest.raises(sqlite3.ProgrammingError):
            saver.conn.execute("SELECT 1")  # closed
        assert stores.saver_for(graphs["interview"]) is not saver


def test_llm_factory_setting_applies_and_stops_applying(graphs, yamlgraph_settings):
    factory = f"{__name__}.scripted_model"

    with override_settings(YAMLGRAPH={**yamlgraph_settings, "LLM_FACTORY": factory}):
        session = start_session("interview")
        resume_session(session, "Ada")
        resume_session(session, "win")
        assert session.output["summary"] == "A summary from the project's factory."

    session = start_session("interview")
    resume_session(session, "Ada")
    resume_session(session, "win")
    assert session.output["summary"] == "Summary: Ada wants to win."
