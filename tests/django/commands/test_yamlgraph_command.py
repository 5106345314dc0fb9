"""`manage.py yamlgraph`: every subcommand, as an operator at a terminal would use it.

`run` reads its answers from stdin: a StringIO stands in for a pipe (one answer per
line), and one that says it is a terminal for a person typing at the prompt.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from yamlgraph_django.models import GraphDefinition, Run, Session, SessionStatus
from yamlgraph_django.services import resume_session, start_session

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]


class Terminal(io.StringIO):
    """Typed answers, from a stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def yamlgraph(*args: str, stdin: io.StringIO | None = None) -> tuple[str, str]:
    """Run the command; returns (stdout, stderr). CommandError propagates."""
    out, err = io.StringIO(), io.StringIO()
    options: dict[str, Any] = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = stdin
    call_command("yamlgraph", *args, **options)
    return out.getvalue(), err.getvalue()


def only_session() -> Session:
    (session,) = Session.objects.all()
    return session


# --------------------------------------------------------------------------- graphs, sync


def test_graphs_lists_latest_versions_with_node_and_session_counts(synced_graphs, graph_dir):
    start_session("interview")
    start_session("interview")
    interview = graph_dir / "interview.yaml"
    interview.write_text(interview.read_text().replace("What is your name?", "Name?"))
    yamlgraph("sync")
    start_session("interview")  # sessions of every version count

    out, _ = yamlgraph("graphs")

    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "NODES", "SESSIONS"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows == {
        "approval": ["v1", "4", "0"],
        "chat_assistant": ["v1", "7", "0"],
        "interview": ["v2", "3", "3"],
        "support-router": ["v1", "4", "0"],
    }


def test_graphs_with_nothing_registered(db, yamlgraph_settings, tmp_path):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "GRAPH_DIRS": [tmp_path / "none"]}):
        out, _ = yamlgraph("graphs")

    assert "No graphs registered" in out


def test_sync_shows_progress_and_the_report(db, yamlgraph_settings, graph_dir):
    out, err = yamlgraph("sync")

    assert f"reading {graph_dir.resolve() / 'interview.yaml'}" in err
    assert "added interview v1" in out
    assert out.strip().endswith("4 graph files: 4 added, 0 updated, 0 unchanged, 0 invalid")
    assert GraphDefinition.objects.count() == 4

    (graph_dir / "interview.yaml").write_text(
        (graph_dir / "interview.yaml").read_text().replace("What is your name?", "Name?")
    )
    out, _ = yamlgraph("sync")
    assert "updated interview: v1 -> v2" in out


def test_sync_fails_on_an_invalid_file_but_registers_the_rest(db, yamlgraph_settings, graph_dir):
    (graph_dir / "broken.yaml").write_text("name: broken\nnodes:\n  a: {type: nope}\n")

    with pytest.raises(CommandError) as caught:
        yamlgraph("sync")

    assert "1 invalid" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert GraphDefinition.objects.count() == 4


# --------------------------------------------------------------------------- validate


def test_validate_every_graph_under_graph_dirs(yamlgraph_settings, graph_dir):
    out, _ = yamlgraph("validate")

    assert f"ok {graph_dir.resolve() / 'approval.yaml'}" in out
    assert out.strip().endswith("4 graph files valid")


def test_validate_prints_one_line_per_issue_and_fails(yamlgraph_settings, graph_dir):
    broken = graph_dir / "broken.yaml"
    broken.write_text(
        "name: broken\nnodes:\n  a:\n    type: interupt\nedges:\n  - {from: START, to: b}\n"
    )
    out = io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("yamlgraph", "validate", stdout=out)

    issues = [line for line in out.getvalue().splitlines() if line.startswith(str(broken))]
    assert len(issues) >= 2
    assert any(":4: nodes.a.type" in line and "'interrupt'" in line for line in issues)
    assert f"ok {graph_dir.resolve() / 'interview.yaml'}" in out.getvalue()
    assert str(caught.value) == f"{len(issues)} problems found (4 valid graph files)"


def test_validate_named_paths(yamlgraph_settings, graph_dir, tmp_path):
    out, _ = yamlgraph("validate", str(graph_dir / "interview.yaml"))
    assert out.strip().endswith("1 graph file valid")

    with pytest.raises(CommandError) as caught:
        yamlgraph("validate", str(tmp_path / "missing.yaml"))
    assert "1 problem found" in str(caught.value)

    (tmp_path / "compose.yaml").write_text("services: {}\n")
    with pytest.raises(CommandError):
        yamlgraph("validate", str(tmp_path / "compose.yaml"))


# --------------------------------------------------------------------------- run


def test_run_answers_from_piped_lines_until_the_end(synced_graphs):
    out, _ = yamlgraph(
        "run", "interview", "--var", "topic=Django", stdin=io.StringIO("Ada\nship it\n")
    )

    session = only_session()
    assert session.status == SessionStatus.COMPLETED
    assert f"Session {session.pk} (interview v1) started." in out
    assert "Hi! What is your name?\n> Ada\n" in out
    assert "What do you want to achieve with Django?\n> ship it\n" in out
    assert f"Session {session.pk} completed." in out
    final = json.loads(out[out.index("{") :])
    assert final["summary"] == "Summary: Ada wants to ship it."
    assert {run.channel for run in Run.objects.all()} == {"command"}


def test_run_stops_at_the_end_of_input_and_says_how_to_continue(synced_graphs):
    out, _ = yamlgraph("run", "interview", stdin=io.StringIO("Ada\n"))

    session = only_session()
    assert session.status == SessionStatus.INTERRUPTED
    assert f"Session {session.pk} is waiting for an answer:" in out
    assert "  Thanks Ada. What do you want to achieve with your project?" in out
    assert f"manage.py yamlgraph resume {session.pk} --value" in out

    out, _ = yamlgraph("resume", str(session.pk), "--value", "win")
    assert f"Session {session.pk} completed." in out


def test_run_with_no_input_at_all_just_starts(synced_graphs):
    out, _ = yamlgraph("run", "interview", stdin=io.StringIO(""))

    assert only_session().status == SessionStatus.INTERRUPTED
    assert "is waiting for an answer" in out


def test_run_reads_the_real_stdin_when_not_given_one(synced_graphs, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Ada\nwin\n"))

    out, _ = yamlgraph("run", "interview")

    assert only_session().status == SessionStatus.COMPLETED
    assert "Summary: Ada wants to win." in out


def test_run_gives_json_answers_as_json_and_other_answers_as_text(synced_graphs):
    yamlgraph(
        "run",
        "approval",
        "--input",
        '{"amount": 500}',
        "--var",
        "requester=007",
        stdin=io.StringIO("yes\n"),
    )

    session = only_session()
    assert session.input == {"amount": 500, "requester": "007"}  # str field keeps the text
    assert session.runs.last().value == "yes"
    assert session.output["approved"] is True

    yamlgraph("run", "interview", stdin=io.StringIO('{"first": "Ada"}\nnot json: {\n'))
    latest = Session.objects.latest("created_at")
    assert [r.value for r in latest.runs.order_by("id")][1:] == [{"first": "Ada"}, "not json: {"]


def test_run_prompts_at_a_terminal(synced_graphs):
    out, _ = yamlgraph("run", "interview", stdin=Terminal("Ada\nwin\n"))

    assert "Hi! What is your name?\n> " in out
    assert "> Ada" not in out  # a person's typing is not echoed back
    assert only_session().status == SessionStatus.COMPLETED


def test_run_with_two_questions_at_once_asks_both(synced_graphs, graph_dir, write_graph):
    write_graph(
        graph_dir,
        "pair.yaml",
        text="""
            name: pair
            state: {a: str, b: str}
            nodes:
              ask_a: {type: interrupt, message: "A?", resume_key: a}
              ask_b: {type: interrupt, message: "B?", resume_key: b}
            edges:
              - {from: START, to: [ask_a, ask_b]}
              - {from: ask_a, to: END}
              - {from: ask_b, to: END}
        """,
    )
    yamlgraph("sync")

    out, _ = yamlgraph("run", "pair", stdin=io.StringIO("x\ny\n"))

    session = only_session()
    assert session.status == SessionStatus.COMPLETED
    assert {session.output["a"], session.output["b"]} == {"x", "y"}
    assert "A?" in out and "B?" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope"], "No graph named 'nope' is registered."),
        (["run", "interview", "--input", "{bad"], "--input is not JSON"),
        (["run", "interview", "--input", "[1]"], "--input must be a JSON object"),
        (["run", "interview", "--var", "topic"], "is not KEY=VALUE"),
        (["run", "interview", "--var", "nme=Ada"], "Unknown input field(s) 'nme'"),
    ],
)
def test_run_refuses_bad_arguments_in_one_line(synced_graphs, args, message):
    with pytest.raises(CommandError) as caught:
        yamlgraph(*args, stdin=io.StringIO(""))

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not Session.objects.exists()


def test_run_with_a_thread_id_and_a_failing_graph(synced_graphs, graph_dir, write_graph):
    (graph_dir / "tools" / "boom.py").write_text(
        "def boom(state):\n    raise ValueError('no luck today')\n"
    )
    write_graph(
        graph_dir,
        "boom.yaml",
        text="""
            name: boom
            tools:
              boom: {path: tools/boom.py, function: boom}
            nodes:
              go: {type: python, tool: boom}
            edges:
              - {from: START, to: go}
              - {from: go, to: END}
        """,
    )
    yamlgraph("sync")

    with pytest.raises(CommandError) as caught:
        yamlgraph("run", "boom", "--thread", "my-thread", stdin=io.StringIO(""))

    session = only_session()
    assert session.thread_id == "my-thread"
    assert session.status == SessionStatus.FAILED
    assert str(caught.value) == (
        f"session {session.pk} failed: ValueError: no luck today "
        f"(retry: manage.py yamlgraph resume {session.pk})"
    )


# --------------------------------------------------------------------------- resume


def test_resume_with_a_value_and_with_values(synced_graphs):
    session = start_session("interview")

    out, _ = yamlgraph("resume", str(session.pk), "--value", "Ada")
    assert "Thanks Ada." in out and "is waiting for an answer" in out

    session.refresh_from_db()
    values = json.dumps({session.interrupts[0]["id"]: [1, 2]})
    out, _ = yamlgraph("resume", str(session.pk), "--values", values)
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["goal"] == [1, 2]
    assert [r.channel for r in session.runs.all()] == ["python", "command", "command"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resume", "00000000-0000-0000-0000-000000000000", "--value", "x"], "No session"),
        (["resume", "nonsense", "--value", "x"], "No session with id 'nonsense'."),
        (["resume", "{session}"], "waiting for an answer"),
        (["resume", "{session}", "--values", "{"], "--values is not JSON"),
        (["resume", "{session}", "--values", "[]"], "must be a JSON object"),
        (["resume", "{session}", "--values", '{"zz": 1}'], "interrupt id(s) zz are not pending"),
    ],
)
def test_resume_failures_are_one_line(synced_graphs, args, message):
    session = start_session("interview")
    args = [str(session.pk) if arg == "{session}" else arg for arg in args]

    with pytest.raises(CommandError) as caught:
        yamlgraph(*args)

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


def test_resume_of_a_finished_session(synced_graphs):
    session = start_session("approval", {"amount": 1, "requester": "A"})

    with pytest.raises(CommandError) as caught:
        yamlgraph("resume", str(session.pk), "--value", "yes")

    assert "is completed" in str(caught.value)


# --------------------------------------------------------------------------- sessions


def test_sessions_lists_newest_first_with_the_pending_question(synced_graphs):
    waiting = start_session("interview")
    done = start_session("approval", {"amount": 1, "requester": "A"})

    out, _ = yamlgraph("sessions")

    lines = out.splitlines()
    assert lines[0].split() == ["ID", "GRAPH", "STATUS", "OWNER", "UPDATED", "QUESTION"]
    assert lines[1].startswith(str(done.pk)) and "completed" in lines[1]
    assert lines[2].startswith(str(waiting.pk)) and "Hi! What is your name?" in lines[2]

    out, _ = yamlgraph("sessions", "--status", "interrupted")
    assert str(waiting.pk) in out and str(done.pk) not in out
    out, _ = yamlgraph("sessions", "--graph", "approval")
    assert str(done.pk) in out and str(waiting.pk) not in out
    out, _ = yamlgraph("sessions", "--status", "failed")
    assert out.strip() == "No sessions."
    with pytest.raises(CommandError):
        yamlgraph("sessions", "--status", "bogus")


# --------------------------------------------------------------------------- prune, recover


def test_prune_older_than_with_dry_run_and_status(synced_graphs, stored_thread_ids):
    old = start_session("interview")
    old_done = start_session("approval", {"amount": 1, "requester": "A"})
    new = start_session("interview")
    Session.objects.filter(pk__in=[old.pk, old_done.pk]).update(
        updated_at=timezone.now() - dt.timedelta(days=31)
    )

    out, _ = yamlgraph("prune", "--older-than", "30d", "--dry-run")
    lines = out.strip().splitlines()
    assert lines[-1] == "Would delete 2 sessions."
    listed = [line.split()[:4] for line in lines[:-1]]  # oldest first, as they would go
    assert listed == [
        ["would", "delete", str(old.pk), "interview"],
        ["would", "delete", str(old_done.pk), "approval"],
    ]
    assert "interrupted" in lines[0] and "completed" in lines[1]
    assert Session.objects.count() == 3

    out, err = yamlgraph("prune", "--older-than", "30d", "--status", "completed")
    assert out.strip() == "Deleted 1 session."
    assert "deleting 1/1" in err  # progress on stderr (a bar at a terminal)

    out, _ = yamlgraph("prune", "--older-than", "720h")
    assert out.strip() == "Deleted 1 session."
    assert list(Session.objects.all()) == [new]
    assert stored_thread_ids() == {new.thread_id}


def test_prune_without_options_deletes_expired_sessions(synced_graphs, yamlgraph_settings):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "SESSION_TTL_MINUTES": 1}):
        session = start_session("interview")
    out, _ = yamlgraph("prune")
    assert out.strip() == "Deleted 0 sessions."

    Session.objects.filter(pk=session.pk).update(expires_at=timezone.now())
    out, _ = yamlgraph("prune")
    assert out.strip() == "Deleted 1 session."


@pytest.mark.parametrize("age", ["30", "d", "3y", "1.5d"])
def test_prune_refuses_a_bad_age(synced_graphs, age):
    with pytest.raises(CommandError) as caught:
        yamlgraph("prune", "--older-than", age)

    assert "is not a duration like 30d, 12h, 90m" in str(caught.value)


def test_recover_reports_what_it_settled(synced_graphs):
    session = start_session("interview")
    resume_session(session, "Ada")
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING, lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    out, _ = yamlgraph("recover")

    assert f"session {session.pk} -> interrupted" in out
    assert out.strip().endswith("Recovered 1 session.")
    assert session.runs.last().channel == "command"
    out, _ = yamlgraph("recover")
    assert out.strip() == "Recovered 0 sessions."


# --------------------------------------------------------------------------- failures


def test_a_failure_is_one_line_on_stderr_and_exit_status_1(tmp_path):
    """From a real shell: no traceback, just the reason."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "yamlgraph", "validate", str(tmp_path / "nope.yaml")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: 1 problem found (0 valid graph files)"
    ]
    assert f"{tmp_path / 'nope.yaml'}: no such file or directory" in result.stdout


def test_a_missing_subcommand_is_an_error(db):
    with pytest.raises(CommandError):
        yamlgraph()


def test_validate_and_graphs_start_despite_a_broken_graph_file(tmp_path):
    """A broken file fails `check --deploy`; the yamlgraph command must still run to report it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    graphs = tmp_path / "graphs"
    graphs.mkdir()
    (graphs / "bad.yaml").write_text("name: bad\nnodes: {a: {type: nope}}\n")
    settings_dir = tmp_path / "settings_pkg"
    settings_dir.mkdir()
    (settings_dir / "broken_graph_settings.py").write_text(
        "from project.settings import *  # noqa\n"
        f"YAMLGRAPH = {{**YAMLGRAPH, 'GRAPH_DIRS': [{str(graphs)!r}]}}\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "broken_graph_settings",
        "PYTHONPATH": os.pathsep.join([str(settings_dir), str(root)]),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, str(root / "manage.py"), "yamlgraph", "validate"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )

    assert result.returncode == 1
    assert "unknown node type 'nope'" in result.stdout + result.stderr
    assert "SystemCheckError" not in result.stderr
    assert "Traceback" not in result.stderr
