"""yamlgraph's prompt search order, one step at a time, then the engine's own last step.

Each test works in a fresh project root (the working directory, as yamlgraph expects) and
puts the prompt file in exactly one place; the fake model echoes the user message, so the
answer says which file was found.
"""

from __future__ import annotations

import pytest

from tests.yamlgraph.conftest import compile_file, thread, write
from yamlgraph.errors import GraphValidationError
from yamlgraph.graph_loader import load_graph_config


def graph_with(root, prompt: str, defaults: str = "") -> object:
    """graphs/demo/graph.yaml under `root`, one llm node using `prompt`."""
    return write(
        root,
        "graphs/demo/graph.yaml",
        f"""
        {defaults}
        nodes:
          say: {{type: llm, prompt: {prompt}}}
        edges:
          - {{from: START, to: say}}
        """,
    )


def prompt_at(root, relative: str, text: str) -> None:
    write(root, relative, f"user: {text}\n")


def answer(path) -> str:
    return compile_file(path).invoke({}, thread())["say"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("where", "name", "defaults"),
    [
        # 1. prompts_relative + prompts_dir: {graph dir}/{prompts_dir}/{name}
        ("graphs/demo/mine/greet.yaml", "greet", "{prompts_relative: true, prompts_dir: mine}"),
        # 2. prompts_dir, from the working directory
        ("shared/greet.yaml", "greet", "{prompts_dir: shared}"),
        # 3. prompts_relative: {graph dir}/{name}
        ("graphs/demo/prompts/opening.yaml", "prompts/opening", "{prompts_relative: true}"),
        # 4. prompts/ of the working directory
        ("prompts/greet.yaml", "greet", "{}"),
        # 5. the issue's example: examples/npc/scene_describe in examples/npc/prompts/
        ("examples/npc/prompts/scene_describe.yaml", "examples/npc/scene_describe", "{}"),
        # the engine's step: prompts/ beside the graph
        ("graphs/demo/prompts/greet.yaml", "greet", "{}"),
    ],
    ids=["step1", "step2", "step3", "step4", "step5", "engine-step"],
)
def test_each_search_step_finds_a_prompt_found_nowhere_else(project, where, name, defaults):
    prompt_at(project, where, f"found at {where}")
    assert answer(graph_with(project, name, f"defaults: {defaults}")) == f"found at {where}"


def test_yamlgraph_steps_come_before_the_engine_step(project):
    prompt_at(project, "prompts/greet.yaml", "working directory")
    prompt_at(project, "graphs/demo/prompts/greet.yaml", "beside the graph")
    assert answer(graph_with(project, "greet")) == "working directory"


def test_prompts_dir_wins_over_graph_relative(project):
    prompt_at(project, "shared/greet.yaml", "explicit dir")
    prompt_at(project, "graphs/demo/greet.yaml", "graph relative")
    defaults = "defaults: {prompts_relative: true, prompts_dir: shared}"
    assert answer(graph_with(project, "greet", defaults)) == "explicit dir"


def test_prompts_relative_false_turns_the_engine_step_off(project):
    prompt_at(project, "graphs/demo/prompts/greet.yaml", "beside the graph")
    path = graph_with(project, "greet", "defaults: {prompts_relative: false}")
    with pytest.raises(GraphValidationError, match="prompt file 'greet' not found"):
        load_graph_config(path)


def test_a_prompt_found_nowhere_lists_every_place_tried(project):
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(graph_with(project, "examples/npc/nowhere"))
    (issue,) = caught.value.issues
    assert issue.path == "nodes.say.prompt"
    assert "prompts/examples/npc/nowhere.yaml" in issue.message
    assert "examples/npc/prompts/nowhere.yaml" in issue.message
