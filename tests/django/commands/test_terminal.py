"""`manage.py yamlgraph` at a real terminal: Ctrl-C, a closed pipe, questions as text,
progress bars, and `./manage.py` started from a plain shell.

Ctrl-C and the closed pipe are real processes: a project settings module in a temporary
directory gives them their own SQLite database and checkpoint file, migrated once.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from yamlgraph_django.models import Session, SessionStatus
from yamlgraph_django.services import start_session

REPO = Path(__file__).resolve().parents[3]


class Terminal(io.StringIO):
    """A stream that says it is a terminal (typed answers, or stderr at a console)."""

    def isatty(self) -> bool:
        return True


def yamlgraph(*args: str, stdin: Any = None, stderr: Any = None) -> tuple[str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    options: dict[str, Any] = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = stdin
    call_command("yamlgraph", *args, **options)
    return out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- real processes


@pytest.fixture(scope="module")
def project_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for `manage.py` subprocesses: their own migrated database."""
    root = tmp_path_factory.mktemp("terminal")
    (root / "terminal_settings.py").write_text(
        "from project.settings import *  # noqa\n"
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3',"
        f" 'NAME': {str(root / 'db.sqlite3')!r}}}}}\n"
        f"YAMLGRAPH = {{**YAMLGRAPH, 'DEFAULT_CHECKPOINTER':"
        f" {{'type': 'sqlite', 'path': {str(root / 'checkpoints.sqlite3')!r}}}}}\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "terminal_settings",
        "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    env.pop("YAMLGRAPH_CHECKPOINTER_URL", None)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "yamlgraph", "sync", "-v", "0")
    return env


def manage(env: dict[str, str], *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def read_until(process: subprocess.Popen, marker: str, timeout: float = 60) -> str:
    """What the process printed up to and including the line holding `marker`."""
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, f"no {marker!r} in {seen!r}"
        line = process.stdout.readline()
        assert line, f"the process ended before {marker!r}: {seen!r}"
        seen += line
    return seen


@pytest.fixture
def running(project_env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`manage.py yamlgraph run interview`, waiting at its first question on a pipe."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), "yamlgraph", "run", "interview"],
        cwd=REPO,
        env=project_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def test_ctrl_c_at_a_question_ends_with_the_resume_hint_and_no_traceback(running):
    started = read_until(running, "Hi! What is your name?")
    session_id = started.split("Session ")[1].split()[0]

    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=60)

    assert running.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert f"Session {session_id} is waiting for an answer:" in out, err
    assert f"Continue with: manage.py yamlgraph resume {session_id} --value ANSWER" in out
    assert err.strip().splitlines() == ["CommandError: interrupted (Ctrl-C)"]


def test_ctrl_c_leaves_the_session_answerable(running, project_env):
    started = read_until(running, "Hi! What is your name?")
    session_id = started.split("Session ")[1].split()[0]
    running.send_signal(signal.SIGINT)
    running.communicate(timeout=60)

    resumed = manage(project_env, "yamlgraph", "resume", session_id, "--value", "Ada")

    assert resumed.returncode == 0, resumed.stderr
    assert "Thanks Ada." in resumed.stdout


def test_a_closed_pipe_in_a_shell_pipeline(project_env):
    """`yamlgraph sessions | head -c 1`: the reader goes away after one byte."""
    for _ in range(3):
        manage(project_env, "yamlgraph", "run", "interview", stdin=subprocess.DEVNULL)
    script = f"{sys.executable} {REPO / 'manage.py'} yamlgraph sessions | head -c 1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        cwd=REPO,
        env=project_env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.stdout == "I"
    assert result.stderr == ""
    assert result.returncode == 0


def test_manage_py_runs_from_a_plain_shell_without_the_venv_activated():
    """`./manage.py` as the README shows: its own shebang, no venv on PATH."""
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv here (made by `make install`) for ./manage.py to use")
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = path
    result = subprocess.run(
        ["./manage.py", "yamlgraph", "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "graphs, validate, sync, run, resume" in " ".join(result.stdout.split())


# --------------------------------------------------------------------------- as text


pytestmark_db = pytest.mark.django_db


@pytestmark_db
def test_a_structured_question_is_a_readable_question_with_numbered_choices(synced_graphs):
    out, _ = yamlgraph(
        "run",
        "approval",
        "--input",
        '{"amount": 500, "requester": "Bob"}',
        stdin=io.StringIO(""),
    )

    assert "{" not in out.split("started.")[1]  # no JSON anywhere in the question
    assert "Approve Bob's expense of 500?\n" in out
    assert "  risk: high\n" in out
    assert "  1) yes\n  2) no\n" in out


@pytestmark_db
def test_a_choice_can_be_answered_by_its_number(synced_graphs):
    out, _ = yamlgraph(
        "run",
        "approval",
        "--input",
        '{"amount": 500, "requester": "Bob"}',
        stdin=io.StringIO("2\n"),
    )

    (session,) = Session.objects.all()
    assert session.status == SessionStatus.COMPLETED
    assert session.runs.last().value == "no"
    assert session.output["approved"] is False


@pytestmark_db
def test_an_answer_outside_the_choices_is_refused_at_a_terminal_and_asked_again(synced_graphs):
    out, err = yamlgraph(
        "run",
        "approval",
        "--input",
        '{"amount": 500, "requester": "Bob"}',
        stdin=Terminal("maybe\nyes\n"),
    )

    assert "Not accepted: value: must be one of: yes, no" in err
    (session,) = Session.objects.all()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["decision"] == "yes"


@pytestmark_db
def test_an_empty_answer_is_refused_where_one_is_required(synced_graphs):
    with pytest.raises(CommandError, match="value: an answer is required"):
        yamlgraph("run", "interview", stdin=io.StringIO("\n"))

    (session,) = Session.objects.all()
    assert session.status == SessionStatus.INTERRUPTED  # nothing changed


@pytestmark_db
def test_a_start_without_a_required_field_is_refused(synced_graphs):
    with pytest.raises(CommandError) as caught:
        yamlgraph("run", "approval", "--input", "{}", stdin=io.StringIO(""))

    assert "amount: required" in str(caught.value)
    assert "requester: required" in str(caught.value)
    assert not Session.objects.exists()


# --------------------------------------------------------------------------- progress bars


@pytestmark_db
def test_prune_draws_a_progress_bar_at_a_terminal(synced_graphs):
    sessions = [start_session("interview") for _ in range(3)]
    Session.objects.filter(pk__in=[s.pk for s in sessions]).update(
        updated_at=timezone.now() - dt.timedelta(days=2)
    )
    console = Terminal()

    yamlgraph("prune", "--older-than", "1d", stderr=console)

    drawn = console.getvalue()
    assert drawn.startswith("\rdeleting [")  # advances once per batch of 500 sessions
    assert drawn.endswith("\rdeleting [##############################] 3/3\n")
    assert not Session.objects.exists()


@pytestmark_db
def test_recover_draws_a_progress_bar(synced_graphs):
    sessions = [start_session("interview") for _ in range(2)]
    Session.objects.filter(pk__in=[s.pk for s in sessions]).update(
        status=SessionStatus.RUNNING, lease_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    console = Terminal()

    out, _ = yamlgraph("recover", stderr=console)

    assert console.getvalue().endswith("\rrecovering [##############################] 2/2\n")
    assert out.strip().endswith("Recovered 2 sessions.")
