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


def test_step1_graph_relative_prompts_dir(project):
    prompt_at(project, "graphs/demo/mine/greet.yaml", "step one")
    defaults = "defaults: {prompts_relative: true, prompts_dir: mine}"
    assert answer(graph_with(project, "greet", defaults)) == "step one"


def test_step2_prompts_dir_from_the_working_directory(project):
    prompt_at(project, "shared/greet.yaml", "step two")
    assert answer(graph_with(project, "greet", "defaults: {prompts_dir: shared}")) == "step two"


def test_step3_graph_relative_without_prompts_dir(project):
    prompt_at(project, "graphs/demo/prompts/opening.yaml", "step three")
    defaults = "defaults: {prompts_relative: true}"
    assert answer(graph_with(project, "prompts/opening", defaults)) == "step three"


def test_step4_default_prompts_folder_of_the_working_directory(project):
    prompt_at(project, "prompts/greet.yaml", "step four")
    assert answer(graph_with(project, "greet")) == "step four"


def test_step5_parent_prompts_basename_fallback(project):
    # the issue's example: prompt examples/npc/scene_describe lives in examples/npc/prompts/
    prompt_at(project, "examples/npc/prompts/scene_describe.yaml", "step five")
    assert answer(graph_with(project, "examples/npc/scene_describe")) == "step five"


def test_engine_step_prompts_beside_the_graph(project):
    prompt_at(project, "graphs/demo/prompts/greet.yaml", "beside the graph")
    assert answer(graph_with(project, "greet")) == "beside the graph"


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
