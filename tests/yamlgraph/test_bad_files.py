"""Broken graph files through the engine's entry points: one clear error each, no hang.

The Django entry points (`manage.py yamlgraph validate`, `sync`, the system checks) run
the same corpus in tests/django/commands/test_bad_files.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.yamlgraph.bad_graphs import (
    CORPUS,
    UNSET_VARIABLE,
    error_line_pattern,
    good_graph,
    write_corpus,
)
from yamlgraph.errors import GraphValidationError
from yamlgraph.graph_loader import load_graph_config

ROOT = Path(__file__).resolve().parents[2]
#: A bound on one command over the whole corpus, interpreter start included (a few
#: seconds on a loaded machine); the old loader took minutes on the alias bomb alone.
WALL_TIME = 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("bad_graphs"))


@pytest.fixture(autouse=True)
def _unset(monkeypatch):
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)


def engine_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != UNSET_VARIABLE}
    return subprocess.run(
        [sys.executable, "-m", "yamlgraph", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=WALL_TIME,
    )


@pytest.mark.parametrize("bad", CORPUS, ids=lambda bad: bad.name)
def test_load_graph_config_raises_one_clear_error(corpus, bad):
    path = corpus[bad.name]
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(path)
    assert len(caught.value.issues) == 1, caught.value.issues
    [issue] = caught.value.issues
    assert issue.file == str(path)
    assert issue.line == bad.line
    assert error_line_pattern(bad, path).fullmatch(str(issue)), str(issue)


def test_the_engine_cli_prints_one_error_line_per_file_and_exits_1(corpus):
    result = engine_cli("validate", *map(str, corpus.values()))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == len(CORPUS), lines
    for bad, line in zip(CORPUS, lines, strict=True):
        assert error_line_pattern(bad, corpus[bad.name]).fullmatch(line), line


def test_a_valid_anchor_and_merge_key_still_load(tmp_path):
    """The limits refuse bombs, not YAML's ordinary anchors and merge keys."""
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "name: anchors\n"
        "base: &ask {type: interrupt, message: Name?}\n"
        "nodes:\n"
        "  ask: {<<: *ask}\n"
        "  again: {<<: *ask, message: Again?}\n"
        "edges:\n"
        "  - {from: START, to: ask}\n"
        "  - {from: ask, to: again}\n"
        "  - {from: again, to: END}\n".replace("base: &ask", "x-base: &ask")
    )
    with pytest.raises(GraphValidationError) as caught:  # unknown top-level key x-base...
        load_graph_config(path)
    assert [i.path for i in caught.value.issues] == ["x-base"]
    path.write_text(
        "name: anchors\n"
        "nodes:\n"
        "  ask: &ask {type: interrupt, message: Name?}\n"
        "  again: {<<: *ask, message: Again?}\n"
        "edges:\n"
        "  - {from: START, to: ask}\n"
        "  - {from: ask, to: again}\n"
        "  - {from: again, to: END}\n"
    )
    config = load_graph_config(path)
    assert config.nodes["again"].options == {"type": "interrupt", "message": "Again?"}


def test_a_graph_that_includes_itself_is_a_cycle(tmp_path):
    path = tmp_path / "self.yaml"
    path.write_text(
        "nodes:\n  me: {type: subgraph, graph: self.yaml}\n"
        "edges:\n  - {from: START, to: me}\n  - {from: me, to: END}\n"
    )
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(path)
    [issue] = caught.value.issues
    assert (issue.path, issue.line) == ("nodes.me.graph", 2)
    assert "subgraph cycle: self.yaml -> self.yaml" in issue.message


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ("description: [x]", "description", "must be a string, not a list ['x']"),
        ("prompts_dir: 3", "prompts_dir", "must be a string, not int 3"),
        ('prompts_relative: "yes"', "prompts_relative", "must be true or false, not str 'yes'"),
        ("version: true", "version", "must be a version string or number, not the boolean true"),
        ('name: "two words"', "name", "'two words' is not a valid graph name"),
        ("state: [a]", "state", "must be a mapping, not a list ['a']"),
        ("tools: []", "tools", "must be a mapping, not a list []"),
        ("config: 3", "config", "must be a mapping, not int 3"),
        ("defaults: {temperature: hot}", "defaults.temperature", "must be a number, not str"),
        ("defaults: {prompts_relative: 1}", "defaults.prompts_relative", "must be true or false"),
        ("checkpointer: [memory]", "checkpointer", "must be a type name or a mapping with 'type'"),
        ("checkpointer: {path: x.db}", "checkpointer", "needs a 'type'; known types:"),
        (
            "checkpointer: {type: sqlite, path: x.db, tll: 3}",
            "checkpointer",
            "unknown option(s) 'tll' for checkpointer type 'sqlite'",
        ),
        ("checkpointer: redsi", "checkpointer", "did you mean 'redis'?"),
    ],
)
def test_every_top_level_key_has_its_type_checked(tmp_path, extra, path, message):
    graph = tmp_path / "typed.yaml"
    text = good_graph("typed")
    key = extra.partition(":")[0]
    if key == "name":
        text = text.replace("name: typed\n", "")
    graph.write_text(text + extra + "\n")
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(graph)
    [issue] = caught.value.issues
    assert issue.path == path
    assert message in issue.message
    assert issue.line == len(text.splitlines()) + 1
