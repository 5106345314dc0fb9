"""System checks: what `manage.py check` says about graphs and checkpointer settings.

None of these tests request the database: pytest-django fails any test that touches
it, which is how "checks never touch the DB" is verified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from tests.servers import free_port

UNSET = "YAMLGRAPH_TEST_SURELY_UNSET_VAR"


#: The deploy checks of settings a production deployment should change (tested in
#: tests/django/test_operations_checks.py); the tests here look at the others.
SETTINGS_ADVICE = {f"yamlgraph.W{n:03d}" for n in range(11, 20)}


def yamlgraph_messages(*, deploy: bool = False) -> list[Any]:
    return [
        m
        for m in run_checks(tags=["yamlgraph"], include_deployment_checks=deploy)
        if m.id and m.id.startswith("yamlgraph.") and m.id not in SETTINGS_ADVICE
    ]


def ids(messages: list[Any]) -> list[str]:
    return sorted(m.id for m in messages)


@pytest.fixture
def configure(yamlgraph_settings):
    """configure(**YAMLGRAPH overrides, debug=None) -> context manager."""

    def apply(*, debug: bool | None = None, **overrides: Any):
        extra = {} if debug is None else {"DEBUG": debug}
        return override_settings(YAMLGRAPH={**yamlgraph_settings, **overrides}, **extra)

    return apply


def test_the_example_project_has_no_findings(yamlgraph_settings):
    assert yamlgraph_messages() == []


def test_the_repository_settings_pass_the_checks():
    call_command("check", tags=["yamlgraph"])  # raises SystemCheckError on errors


# --------------------------------------------------------------------------- W002 / E001 / E006


def test_w002_one_warning_per_invalid_file_with_file_and_line(
    yamlgraph_settings, graph_dir, write_graph
):
    bad = write_graph(
        graph_dir,
        "bad.yaml",
        text="""\
        name: bad
        nodes:
          ask: {type: interrupt, message: hi, resume_kye: x}
        edges:
          - {from: START, to: ask}
          - {from: ask, to: nowhere}
        """,
    )
    write_graph(graph_dir, "worse.yml", text="name: worse\nnodes: [\n")

    messages = yamlgraph_messages()

    assert ids(messages) == ["yamlgraph.W002", "yamlgraph.W002"]
    by_file = {m.obj: m for m in messages}
    text = by_file[str(bad.resolve())].msg
    assert "2 problems" in text
    assert f"{bad.resolve()}:3: nodes.ask.resume_kye: unknown" in text
    assert "nowhere" in text


@pytest.mark.django_db  # Django 6 runs database checks in `check` too
def test_a_broken_file_warns_in_check_and_fails_check_deploy(
    yamlgraph_settings, graph_dir, write_graph, capsys
):
    """A typo while editing must not stop `migrate` or `runserver` (the other graphs
    keep working), but a deployment must not ship it."""
    bad = write_graph(graph_dir, "bad.yaml", text="name: bad\nnodes: {a: {type: nope}}\n")

    call_command("check")  # no SystemCheckError: a warning only
    assert "yamlgraph.W002" in capsys.readouterr().err

    with pytest.raises(SystemCheckError, match=r"(?s)yamlgraph\.E001.*1 invalid graph file"):
        call_command("check", deploy=True)
    [error] = [m for m in yamlgraph_messages(deploy=True) if m.id == "yamlgraph.E001"]
    assert str(bad.resolve()) in error.msg


def test_e006_two_files_declaring_one_name(yamlgraph_settings, graph_dir, write_graph):
    write_graph(graph_dir, "copy.yaml", name="interview")

    [message] = yamlgraph_messages()

    assert message.id == "yamlgraph.E006"
    assert "graph name 'interview' is declared by 2 files" in message.msg
    assert "copy.yaml" in message.msg and "interview.yaml" in message.msg


# --------------------------------------------------------------------------- E005


def test_e005_missing_graph_dir(yamlgraph_settings, configure, graph_dir, tmp_path):
    missing = tmp_path / "grpahs"
    with configure(GRAPH_DIRS=[graph_dir, missing]):
        [message] = yamlgraph_messages()

    assert message.id == "yamlgraph.E005"
    assert str(missing) in message.msg


# --------------------------------------------------------------------------- E002


def test_e002_unset_variable_in_the_default_checkpointer(configure, monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)
    with configure(DEFAULT_CHECKPOINTER={"type": "redis", "url": f"${{{UNSET}}}"}):
        [message] = yamlgraph_messages()

    assert message.id == "yamlgraph.E002"
    assert UNSET in message.msg
    assert message.obj == "YAMLGRAPH['DEFAULT_CHECKPOINTER']"


def test_e002_not_raised_when_the_variable_is_set_or_has_a_default(configure, monkeypatch):
    monkeypatch.setenv(UNSET, "redis://127.0.0.1:1/0")
    with configure(DEFAULT_CHECKPOINTER={"type": "redis", "url": f"${{{UNSET}}}"}):
        assert yamlgraph_messages() == []
    monkeypatch.delenv(UNSET)
    with configure(DEFAULT_CHECKPOINTER={"type": "sqlite", "path": f"${{{UNSET}:-x.sqlite3}}"}):
        assert yamlgraph_messages() == []


def test_an_unset_variable_in_a_graph_files_own_block_makes_the_file_invalid(
    yamlgraph_settings, graph_dir, write_graph, monkeypatch
):
    """The engine's own validation refuses it (as `python -m yamlgraph validate` does):
    one W002 naming the file, the option and its line, and no second message."""
    monkeypatch.delenv(UNSET, raising=False)
    path = graph_dir / "interview.yaml"
    path.write_text(path.read_text() + f'\ncheckpointer:\n  type: redis\n  url: "${{{UNSET}}}"\n')
    url_line = len(path.read_text().splitlines())

    [message] = yamlgraph_messages()

    assert message.id == "yamlgraph.W002"
    assert message.obj == str(path.resolve())
    assert f"{path.resolve()}:{url_line}: checkpointer.url: environment variable {UNSET}" in (
        message.msg
    )


def test_an_override_replaces_the_blocks_it_hides(configure, graph_dir, monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)
    path = graph_dir / "interview.yaml"
    path.write_text(path.read_text() + f'\ncheckpointer:\n  type: redis\n  url: "${{{UNSET}}}"\n')

    with configure(CHECKPOINTER_OVERRIDE={"type": "sqlite", "path": ":memory:"}, debug=True):
        assert yamlgraph_messages() == []
    with configure(CHECKPOINTER_OVERRIDE={"type": "redis", "url": f"${{{UNSET}}}"}):
        [message] = yamlgraph_messages()
    assert (message.id, message.obj) == ("yamlgraph.E002", "YAMLGRAPH['CHECKPOINTER_OVERRIDE']")


# --------------------------------------------------------------------------- E003


def test_e003_unknown_checkpointer_type(configure):
    with configure(DEFAULT_CHECKPOINTER={"type": "redsi", "url": "redis://x"}):
        [message] = yamlgraph_messages()

    assert message.id == "yamlgraph.E003"
    assert "unknown checkpointer type 'redsi'" in message.msg
    assert "did you mean 'redis'" in message.msg
    assert "memory" in message.msg and "sqlite" in message.msg  # lists the known ones


def test_e003_block_without_a_type(configure):
    with configure(DEFAULT_CHECKPOINTER={"path": "x.sqlite3"}):
        [message] = yamlgraph_messages()

    assert message.id == "yamlgraph.E003"
    assert "type" in message.msg


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis", "postgres"])
def test_known_types_are_not_e003(configure, kind, tmp_path):
    block = {"type": kind}
    if kind == "sqlite":
        block["path"] = str(tmp_path / "c.sqlite3")
    if kind in {"redis", "postgres"}:
        block["url"] = f"{kind}://127.0.0.1:1/0"
    with configure(DEFAULT_CHECKPOINTER=block, debug=True):
        assert yamlgraph_messages() == []


# --------------------------------------------------------------------------- W001


def test_w001_memory_checkpointer_without_debug(configure):
    with configure(DEFAULT_CHECKPOINTER={"type": "memory"}, debug=False):
        [message] = yamlgraph_messages()

    assert message.id == "yamlgraph.W001"
    assert "sessions are lost on restart" in message.msg
    assert "interview" in message.msg  # names the graphs that use it


def test_w001_not_raised_in_debug_or_with_durable_storage(configure, tmp_path):
    with configure(DEFAULT_CHECKPOINTER="memory", debug=True):
        assert yamlgraph_messages() == []
    with configure(debug=False):  # the fixture's sqlite file
        assert yamlgraph_messages() == []


def test_w001_for_sqlite_in_memory_and_for_a_graphs_own_block(configure, graph_dir):
    path = graph_dir / "approval.yaml"
    path.write_text(path.read_text() + "\ncheckpointer: memory\n")
    with configure(debug=False):
        [message] = yamlgraph_messages()
    assert (message.id, message.obj) == ("yamlgraph.W001", str(path.resolve()))

    with configure(CHECKPOINTER_OVERRIDE={"type": "sqlite", "path": ":memory:"}, debug=False):
        [message] = yamlgraph_messages()
    assert (message.id, message.obj) == ("yamlgraph.W001", "YAMLGRAPH['CHECKPOINTER_OVERRIDE']")


# --------------------------------------------------------------------------- E004


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_e004_unreachable_server_only_with_deploy(configure, kind):
    url = f"{kind}://127.0.0.1:{free_port()}/0"
    if kind == "postgres":
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with configure(CHECKPOINTER_OVERRIDE={"type": kind, "url": url}, debug=True):
        assert yamlgraph_messages() == []  # plain `check` stays offline
        [message] = yamlgraph_messages(deploy=True)

    assert message.id == "yamlgraph.E004"
    assert f"{kind} checkpointer unreachable" in message.msg
    assert "127.0.0.1" in message.msg


def test_e004_not_raised_for_a_reachable_redis(configure, redis_url):
    with configure(CHECKPOINTER_OVERRIDE={"type": "redis", "url": redis_url}, debug=True):
        assert yamlgraph_messages(deploy=True) == []


def test_e004_not_raised_for_a_reachable_postgres(configure, postgres_url):
    with configure(CHECKPOINTER_OVERRIDE={"type": "postgres", "url": postgres_url}, debug=True):
        assert yamlgraph_messages(deploy=True) == []


def test_e004_password_is_not_shown(configure):
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
    with configure(CHECKPOINTER_OVERRIDE={"type": "redis", "url": url}, debug=True):
        [message] = yamlgraph_messages(deploy=True)

    assert "s3cret" not in message.msg


def test_checks_only_report_for_this_app(yamlgraph_settings, graph_dir, write_graph):
    from django.apps import apps

    write_graph(graph_dir, "bad.yaml", text="name: bad\nnodes: {a: {type: nope}}\n")

    other = run_checks(app_configs=[apps.get_app_config("auth")], tags=["yamlgraph"])

    assert other == []


def test_unused_graph_dir_path_type(tmp_path: Path, configure):
    """GRAPH_DIRS may hold a single file path as well as directories."""
    graph = tmp_path / "single.yaml"
    graph.write_text("name: single\nnodes: {a: {type: nope}}\n")
    with configure(GRAPH_DIRS=[graph]):
        [message] = yamlgraph_messages()
    assert message.id == "yamlgraph.W002"
