"""Broken graph files through the Django entry points: `manage.py yamlgraph validate`,
`manage.py yamlgraph sync` and the system checks. One clear error per file, the good
graphs still registered, and no hang (each command run as a real process, with a bound).

The corpus is tests/yamlgraph/bad_graphs.py, which the engine's entry points also run.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.yamlgraph.bad_graphs import (
    CORPUS,
    UNSET_VARIABLE,
    error_line_pattern,
    good_graph,
    write_corpus,
)
from yamlgraph_django.models import GraphDefinition

ROOT = Path(__file__).resolve().parents[3]
#: One command over the whole corpus, interpreter and Django start included.
WALL_TIME = 30


@pytest.fixture(autouse=True)
def _unset(monkeypatch):
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A graph directory holding the whole corpus and one good graph."""
    directory = tmp_path / "graphs"
    write_corpus(directory)
    (directory / "good.yaml").write_text(good_graph("good"))
    return directory


@pytest.fixture
def corpus_settings(corpus_dir: Path, tmp_path: Path):
    value = {
        "GRAPH_DIRS": [corpus_dir],
        "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": str(tmp_path / "checkpoints.db")},
        "CHECKPOINTER_OVERRIDE": None,
        "SYNC_ON_STARTUP": False,
    }
    with override_settings(YAMLGRAPH=value):
        yield value


def yamlgraph(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("yamlgraph", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def problem_lines(output: str, directory: Path) -> list[str]:
    """The lines of `output` that report a file of the corpus."""
    return [line.strip() for line in output.splitlines() if str(directory) in line]


def assert_one_error_per_file(lines: list[str], directory: Path) -> None:
    for bad in CORPUS:
        pattern = error_line_pattern(bad, (directory / bad.name).resolve())
        matching = [line for line in lines if pattern.fullmatch(line)]
        about = [line for line in lines if line.startswith(f"{directory.resolve() / bad.name}:")]
        assert len(matching) == 1 and len(about) == 1, (bad.name, about)


# --------------------------------------------------------------------------- in process


@pytest.mark.parametrize("bad", CORPUS, ids=lambda bad: bad.name)
def test_validate_reports_one_error_for_each_bad_file(corpus_settings, corpus_dir, bad):
    path = (corpus_dir / bad.name).resolve()
    out, _err, error = yamlgraph("validate", str(path))
    assert error is not None and "1 problem found" in str(error)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert error_line_pattern(bad, path).fullmatch(lines[0]), lines[0]


def test_sync_reports_every_bad_file_and_registers_the_good_one(db, corpus_settings, corpus_dir):
    out, _err, error = yamlgraph("sync")

    assert error is not None and "sync finished with problems" in str(error)
    assert_one_error_per_file(problem_lines(out, corpus_dir), corpus_dir)
    for bad in CORPUS:
        assert f"invalid {(corpus_dir / bad.name).resolve()}:" in out
    assert "added good v1" in out
    assert (
        f"{len(CORPUS) + 1} graph files: 1 added, 0 updated, 0 unchanged, {len(CORPUS)} invalid"
        in out
    )
    assert list(GraphDefinition.objects.values_list("name", flat=True)) == ["good"]


def test_system_checks_give_one_w002_per_bad_file(corpus_settings, corpus_dir):
    every = run_checks(tags=["yamlgraph"])
    messages = [m for m in every if m.id == "yamlgraph.W002"]

    assert sorted(Path(m.obj).name for m in messages) == sorted(bad.name for bad in CORPUS)
    for message in messages:
        bad = next(b for b in CORPUS if b.name == Path(message.obj).name)
        lines = [line.strip() for line in message.msg.splitlines()[1:]]
        assert len(lines) == 1, lines
        assert error_line_pattern(bad, Path(message.obj)).fullmatch(lines[0]), lines[0]
    assert not [m for m in every if m.id in ("yamlgraph.E002", "yamlgraph.E003")]


def test_with_an_override_a_graphs_unset_variable_is_not_an_error(corpus_settings, corpus_dir):
    """The override replaces the file's block, so only the block's own variable is moot."""
    path = (corpus_dir / "unset_variable.yaml").resolve()
    override = {**corpus_settings, "CHECKPOINTER_OVERRIDE": {"type": "memory"}}
    with override_settings(YAMLGRAPH=override):
        out, _err, error = yamlgraph("validate", str(path))
    assert error is None, out
    assert f"ok {path}" in out


# --------------------------------------------------------------------------- real processes


@pytest.fixture
def project_env(corpus_dir: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for a manage.py process on the corpus, with its own SQLite database."""
    settings_dir = tmp_path / "settings"
    settings_dir.mkdir()
    (settings_dir / "corpus_settings.py").write_text(
        textwrap.dedent(
            f"""
            from project.settings import *  # noqa: F403

            DATABASES["default"]["NAME"] = {str(tmp_path / "db.sqlite3")!r}
            YAMLGRAPH = {{
                **YAMLGRAPH,
                "GRAPH_DIRS": [{str(corpus_dir)!r}],
                "DEFAULT_CHECKPOINTER": {{"type": "sqlite", "path": {str(tmp_path / "cp.db")!r}}},
                "CHECKPOINTER_OVERRIDE": None,
            }}
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in (UNSET_VARIABLE, "DATABASE_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "corpus_settings"
    env["PYTHONPATH"] = os.pathsep.join([str(settings_dir), str(ROOT)])
    env.pop("YAMLGRAPH_CHECKPOINTER_URL", None)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=WALL_TIME,
    )


def test_manage_py_validate_sync_and_check_finish_and_report_every_file(project_env, corpus_dir):
    validate = manage(project_env, "yamlgraph", "validate")
    assert validate.returncode == 1, validate.stderr
    assert "Traceback" not in validate.stderr
    assert_one_error_per_file(problem_lines(validate.stdout, corpus_dir), corpus_dir)

    check = manage(project_env, "check", "--tag", "yamlgraph")
    assert check.returncode == 0, check.stderr  # warnings: migrate and runserver start
    assert "Traceback" not in check.stderr
    assert check.stderr.count("yamlgraph.W002") == len(CORPUS), check.stderr
    deploy = manage(project_env, "check", "--deploy", "--tag", "yamlgraph")
    assert deploy.returncode == 1
    assert deploy.stderr.count("yamlgraph.E001") == 1, deploy.stderr

    migrate = manage(project_env, "migrate", "--skip-checks", "--verbosity", "0")
    assert migrate.returncode == 0, migrate.stderr
    sync = manage(project_env, "yamlgraph", "sync")
    assert sync.returncode == 1
    assert "Traceback" not in sync.stderr
    assert_one_error_per_file(problem_lines(sync.stdout, corpus_dir), corpus_dir)
    assert "added good v1" in sync.stdout


class _Terminal(io.StringIO):
    """Captured output that says it is a terminal, as an interactive shell's stderr does."""

    def isatty(self) -> bool:
        return True


def test_sync_draws_a_progress_bar_on_a_terminal_and_lines_elsewhere(db, corpus_settings):
    terminal = _Terminal()
    with pytest.raises(CommandError):
        call_command("yamlgraph", "sync", stdout=io.StringIO(), stderr=terminal)
    total = len(CORPUS) + 1
    drawn = terminal.getvalue()
    assert f"sync:   0%|          | 0/{total}" in drawn
    assert "reading " not in drawn and "\n" not in drawn  # one bar redrawn in place

    piped = io.StringIO()
    with pytest.raises(CommandError):
        call_command("yamlgraph", "sync", stdout=io.StringIO(), stderr=piped)
    assert piped.getvalue().count("reading ") == total
