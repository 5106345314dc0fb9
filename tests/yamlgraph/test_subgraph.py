"""Subgraph nodes: mappings, child interrupts pausing the parent, resuming after a restart."""

from __future__ import annotations

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from tests.yamlgraph.conftest import (
    compile_file,
    questions,
    sqlite_app,
    step_in_new_process,
    thread,
    write,
)
from yamlgraph.graph_loader import compile_graph, load_graph_config

CHILD = """
name: child
state: {text: str, times: int}
nodes:
  repeat:
    type: passthrough
    output: {echoed: "{state.text} x{state.times}", length: "{state.times * 2}"}
edges:
  - {from: START, to: repeat}
  - {from: repeat, to: END}
"""

ASKING_CHILD = """
name: asking-child
state: {topic: str, first: str, second: str}
nodes:
  ask_first:
    type: interrupt
    message: "First question about {state.topic}?"
    state_key: q1
    resume_key: first
  ask_second:
    type: interrupt
    message: "Second question, after '{state.first}'?"
    state_key: q2
    resume_key: second
  combine:
    type: passthrough
    output: {result: "{state.first} + {state.second}"}
edges:
  - {from: START, to: ask_first}
  - {from: ask_first, to: ask_second}
  - {from: ask_second, to: combine}
  - {from: combine, to: END}
"""

PARENT = """
name: parent
state: {subject: str}
nodes:
  intro:
    type: passthrough
    output: {status: "started"}
  inner:
    type: subgraph
    graph: child.yaml
    input_mapping: {subject: topic}
    output_mapping: {outcome: result, first_answer: first}
  outro:
    type: passthrough
    output: {status: "done: {state.outcome}"}
edges:
  - {from: START, to: intro}
  - {from: intro, to: inner}
  - {from: inner, to: outro}
  - {from: outro, to: END}
"""


def test_subgraph_maps_values_in_and_out(tmp_path, graph):
    write(tmp_path, "sub/repeat.yaml", CHILD)
    app = graph(
        """
        state: {word: str, n: int}
        nodes:
          call:
            type: subgraph
            graph: sub/repeat.yaml
            input_mapping: {word: text, n: times}
            output_mapping: {result: echoed, size: length}
        edges:
          - {from: START, to: call}
          - {from: call, to: END}
        """
    )
    result = app.invoke({"word": "hey", "n": 3}, thread())
    assert result["result"] == "hey x3"
    assert result["size"] == 6
    # child-only keys do not leak into the parent
    assert "echoed" not in result and "text" not in result


def test_subgraph_without_input_mapping_gets_the_keys_both_graphs_declare(tmp_path, graph):
    write(tmp_path, "child.yaml", CHILD)
    app = graph(
        """
        state: {text: str, times: int, other: str}
        nodes:
          call:
            type: subgraph
            graph: child.yaml
            output_mapping: {result: echoed}
        edges:
          - {from: START, to: call}
          - {from: call, to: END}
        """
    )
    assert app.invoke({"text": "yo", "times": 2, "other": "x"}, thread())["result"] == "yo x2"


def test_child_interrupts_pause_the_parent_and_resume_through_it(tmp_path):
    write(tmp_path, "child.yaml", ASKING_CHILD)
    app = compile_file(write(tmp_path, "parent.yaml", PARENT))
    config = thread()

    paused = app.invoke({"subject": "cats"}, config)
    assert questions(paused) == ["First question about cats?"]
    assert paused["status"] == "started"

    paused = app.invoke(Command(resume="meow"), config)
    assert questions(paused) == ["Second question, after 'meow'?"]

    done = app.invoke(Command(resume="purr"), config)
    assert "__interrupt__" not in done
    assert done["outcome"] == "meow + purr"
    assert done["first_answer"] == "meow"
    assert done["status"] == "done: meow + purr"


async def test_child_interrupts_work_with_the_async_api(tmp_path):
    write(tmp_path, "child.yaml", ASKING_CHILD)
    config_ = load_graph_config(write(tmp_path, "parent.yaml", PARENT))
    app = compile_graph(config_).compile(checkpointer=InMemorySaver())
    config = thread()
    assert questions(await app.ainvoke({"subject": "dogs"}, config)) == [
        "First question about dogs?"
    ]
    await app.ainvoke(Command(resume="woof"), config)
    done = await app.ainvoke(Command(resume="wag"), config)
    assert done["outcome"] == "woof + wag"


def test_child_interrupt_resumed_after_a_restart_does_not_ask_again(tmp_path):
    write(tmp_path, "child.yaml", ASKING_CHILD)
    parent = write(tmp_path, "parent.yaml", PARENT)
    db = tmp_path / "checkpoints.sqlite"

    first = sqlite_app(parent, db).invoke({"subject": "tea"}, thread("sub-restart"))
    assert questions(first) == ["First question about tea?"]

    # a new process answers the first question: the child goes on to the second one
    second = step_in_new_process(parent, db, "sub-restart", resume="green")
    assert second["__interrupt__"] == ["Second question, after 'green'?"]

    # a fresh app answers the second: the first is not asked again, the parent finishes
    third = sqlite_app(parent, db).invoke(Command(resume="no sugar"), thread("sub-restart"))
    assert "__interrupt__" not in third
    assert third["outcome"] == "green + no sugar"
    assert third["first_answer"] == "green"
    assert third["status"] == "done: green + no sugar"
