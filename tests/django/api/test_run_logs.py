"""A log line written while a run executes names its session and run, whatever wrote
it (here a graph's own python tool), so an operator can grep one session's story."""

from __future__ import annotations

import logging

import pytest

from yamlgraph_django.models import Run

pytestmark = pytest.mark.django_db

LOGGING_TOOL = '''
import logging


def log_and_go(state):
    """Logs like any library called from a node would."""
    logging.getLogger("graph.tool").warning("working on %s", state.get("topic"))
    return {"topic": state.get("topic")}
'''

LOGGING_GRAPH = """
    version: "1.0"
    name: logs
    state:
      topic: str
    tools:
      log_and_go: {path: tools/checks.py, function: log_and_go}
    nodes:
      work: {type: python, tool: log_and_go}
    edges:
      - {from: START, to: work}
      - {from: work, to: END}
"""


def test_a_tools_log_line_names_the_session_and_run(register_graphs, alice, client_for, caplog):
    register_graphs(LOGGING_TOOL, {"logs.yaml": LOGGING_GRAPH})
    with caplog.at_level(logging.WARNING, logger="graph.tool"):
        response = client_for(alice).post(
            "/api/sessions/", {"graph": "logs", "input": {"topic": "logs"}}, format="json"
        )
    assert response.status_code == 201, response.json()
    session = response.json()["id"]
    run = Run.objects.get(session=session)

    [record] = [r for r in caplog.records if r.name == "graph.tool"]
    assert record.getMessage() == "working on logs"
    assert (record.session_id, record.run_id) == (session, str(run.pk))
