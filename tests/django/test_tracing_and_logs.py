"""OpenTelemetry spans of a run and its nodes, and log lines that name the session and
run they are about.

Tracing runs in a process of its own: a tracer provider, once set, is set for the
whole process (OpenTelemetry allows one), and the other tests must not pay for spans.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from yamlgraph_django.logging_context import log_context

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import django
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from yamlgraph_django.services import resume_session, start_session

    session = start_session("interview", {"topic": "tracing"})
    resume_session(session.pk, "Ada")
    spans = [
        {
            "name": s.name,
            "attributes": dict(s.attributes),
            "parent": s.parent.span_id if s.parent else None,
            "id": s.context.span_id,
            "trace": s.context.trace_id,
            "error": s.status.status_code.name == "ERROR",
        }
        for s in exporter.get_finished_spans()
    ]
    print("SPANS=" + json.dumps({"session": str(session.pk), "spans": spans}))
    """
)


def test_runs_and_nodes_are_spans(tmp_path):
    pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk (requirements-dev.txt)")
    settings = tmp_path / "trace_settings.py"
    settings.write_text(
        "from project.settings import *  # noqa\n"
        f"DATABASES['default']['NAME'] = {str(tmp_path / 'db.sqlite3')!r}\n"
        "YAMLGRAPH = {**YAMLGRAPH, 'DEFAULT_CHECKPOINTER': "
        f"{{'type': 'sqlite', 'path': {str(tmp_path / 'cp.sqlite3')!r}}}, "
        "'CHECKPOINTER_OVERRIDE': None}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YAMLGRAPH_", "DATABASE"))}
    env.update(
        DJANGO_SETTINGS_MODULE="trace_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("SPANS="))
    result = json.loads(line.removeprefix("SPANS="))
    spans = result["spans"]

    runs = [s for s in spans if s["name"] == "yamlgraph.run"]
    assert len(runs) == 2  # the start and the answer
    for run in runs:
        assert run["attributes"]["yamlgraph.graph"] == "interview"
        assert run["attributes"]["yamlgraph.session_id"] == result["session"]
        nodes = [s for s in spans if s["parent"] == run["id"]]
        assert nodes and all(s["name"].startswith("yamlgraph.node ") for s in nodes)
        assert all(s["trace"] == run["trace"] for s in nodes)
    node_names = {s["attributes"]["yamlgraph.node"] for s in spans if s["name"] != "yamlgraph.run"}
    assert {"ask_name__prompt", "ask_name"} <= node_names, node_names
    assert not any(s["error"] for s in spans)  # a question is not an error


def test_log_records_carry_the_session_and_run(caplog):
    logger = logging.getLogger("yamlgraph_django.test")
    with caplog.at_level(logging.INFO, logger="yamlgraph_django.test"):
        with log_context("s-1", 7):
            logger.info("inside")
        logger.info("outside")
    inside, outside = caplog.records
    assert (inside.session_id, inside.run_id) == ("s-1", "7")
    assert (outside.session_id, outside.run_id) == ("-", "-")
