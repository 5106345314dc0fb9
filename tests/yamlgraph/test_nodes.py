"""Each node type on a small graph, plus state types, reducers, defaults and typed templates."""

from __future__ import annotations

import pytest

from tests.yamlgraph.conftest import thread, write
from yamlgraph.errors import GraphRuntimeError

# --- llm --------------------------------------------------------------------------------


def test_llm_node_stores_the_scripted_answer_under_its_state_key(graph):
    app = graph(
        """
        state: {topic: str}
        nodes:
          write:
            type: llm
            provider: fake
            prompt: {system: "You write haiku.", user: "A haiku about {state.topic}"}
            responses: ["first answer", "second answer"]
            state_key: poem
        edges:
          - {from: START, to: write}
          - {from: write, to: END}
        """
    )
    assert app.invoke({"topic": "rain"}, thread())["poem"] == "first answer"
    # The script advances per call and then repeats its last entry.
    assert app.invoke({"topic": "rain"}, thread())["poem"] == "second answer"
    assert app.invoke({"topic": "rain"}, thread())["poem"] == "second answer"


def test_llm_node_without_responses_echoes_the_rendered_user_prompt(graph):
    app = graph(
        """
        state: {topic: str}
        nodes:
          echo:
            prompt: {user: "Tell me about {state.topic} in {count} words"}
            variables: {count: "{3 + 2}"}
        edges:
          - {from: START, to: echo}
          - {from: echo, to: END}
        """
    )
    result = app.invoke({"topic": "owls"}, thread())
    # type defaults to llm, provider to fake, state_key to the node name
    assert result["echo"] == "Tell me about owls in 5 words"


def test_llm_node_loads_a_prompt_file_next_to_the_graph(tmp_path, graph):
    write(
        tmp_path,
        "my_prompts/greet.yaml",
        """
        system: "Be brief."
        user: "Hello {name}, you are {state.age}"
        """,
    )
    app = graph(
        """
        prompts_dir: my_prompts
        prompts_relative: true
        state: {age: int}
        nodes:
          greet:
            type: llm
            prompt: greet
            variables: {name: "Ada"}
        edges:
          - {from: START, to: greet}
          - {from: greet, to: END}
        """
    )
    assert app.invoke({"age": 36}, thread())["greet"] == "Hello Ada, you are 36"


def test_llm_node_parse_json_stores_a_dict(graph):
    app = graph(
        """
        nodes:
          extract:
            prompt: {user: "extract"}
            parse_json: true
            responses:
              - |
                ```json
                {"name": "Ada", "tags": ["math"]}
                ```
        edges:
          - {from: START, to: extract}
          - {from: extract, to: END}
        """
    )
    assert app.invoke({}, thread())["extract"] == {"name": "Ada", "tags": ["math"]}


def test_llm_node_parse_json_on_prose_names_the_node(graph):
    app = graph(
        """
        nodes:
          extract:
            prompt: {user: "extract"}
            parse_json: true
            responses: ["sorry, no JSON today"]
        edges:
          - {from: START, to: extract}
          - {from: extract, to: END}
        """
    )
    with pytest.raises(GraphRuntimeError, match="node 'extract'.*JSON"):
        app.invoke({}, thread())


def test_defaults_responses_as_a_mapping_scripts_each_node(graph):
    app = graph(
        """
        defaults:
          provider: fake
          responses:
            one: ["from one"]
            two: ["from two"]
        nodes:
          one: {prompt: {user: "x"}}
          two: {prompt: {user: "y"}}
          three: {prompt: {user: "echoed"}}
        edges:
          - {from: START, to: one}
          - {from: one, to: two}
          - {from: two, to: three}
          - {from: three, to: END}
        """
    )
    result = app.invoke({}, thread())
    assert (result["one"], result["two"], result["three"]) == ("from one", "from two", "echoed")


def test_defaults_responses_as_a_list_and_node_responses_win(graph):
    app = graph(
        """
        defaults:
          responses: ["shared"]
        nodes:
          one: {prompt: {user: "x"}}
          two: {prompt: {user: "y"}, responses: ["own"]}
        edges:
          - {from: START, to: one}
          - {from: one, to: two}
          - {from: two, to: END}
        """
    )
    result = app.invoke({}, thread())
    assert (result["one"], result["two"]) == ("shared", "own")


# --- router -----------------------------------------------------------------------------

ROUTER = """
state: {message: str, reply: str}
nodes:
  classify:
    type: router
    prompt: {user: "{state.message}"}
    routes: {billing: billing, bug: bug}
    default_route: bug
    state_key: category
  billing:
    type: passthrough
    output: {reply: "billing team"}
  bug:
    type: passthrough
    output: {reply: "bug tracker"}
edges:
  - {from: START, to: classify}
  - {from: classify, to: [billing, bug], type: conditional}
  - {from: billing, to: END}
  - {from: bug, to: END}
"""


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ("billing", "billing team"),  # exact label
        ("BUG", "bug tracker"),  # case-insensitive
        ("I think this is about billing.", "billing team"),  # label inside the answer
        ("no idea", "bug tracker"),  # default_route
    ],
)
def test_router_picks_a_route_from_the_answer(graph, message, reply):
    result = graph(ROUTER).invoke({"message": message}, thread())
    assert result["reply"] == reply
    assert result["category"] == message
    assert "_route" not in result  # engine bookkeeping stays out of the output


def test_router_without_edges_routes_by_its_routes_table(graph):
    app = graph(
        """
        nodes:
          pick:
            type: router
            prompt: {user: "x"}
            responses: ["right"]
            routes: {left: go_left, right: go_right}
          go_left: {type: passthrough, output: {side: "L"}}
          go_right: {type: passthrough, output: {side: "R"}}
        edges:
          - {from: START, to: pick}
          - {from: go_left, to: END}
          - {from: go_right, to: END}
        """
    )
    assert app.invoke({}, thread())["side"] == "R"


def test_router_answer_matching_no_route_and_no_default_is_an_error(graph):
    app = graph(
        """
        nodes:
          pick:
            type: router
            prompt: {user: "x"}
            responses: ["up"]
            routes: {left: done, right: done}
          done: {type: passthrough, output: {ok: "{true}"}}
        edges:
          - {from: START, to: pick}
          - {from: done, to: END}
        """
    )
    with pytest.raises(GraphRuntimeError, match="node 'pick'.*'up'.*no default_route"):
        app.invoke({}, thread())


# --- python -----------------------------------------------------------------------------

TOOLS = """
def add_one(state):
    return {"total": state["total"] + 1}

def sneaky(state):
    return {"total": 1, "undeclared": "oops"}

def answer(state):
    return 42

def not_a_dict(state):
    return ["a", "list"]
"""


def test_python_node_from_a_file_updates_state(tmp_path, graph):
    write(tmp_path, "tools/math_tools.py", TOOLS)
    app = graph(
        """
        state: {total: int}
        tools:
          add_one: {path: tools/math_tools.py, function: add_one}
        nodes:
          inc: {type: python, tool: add_one}
        edges:
          - {from: START, to: inc}
          - {from: inc, to: END}
        """
    )
    assert app.invoke({"total": 41}, thread())["total"] == 42


def test_python_node_from_a_module_with_state_key(graph, tmp_path, monkeypatch):
    write(tmp_path, "yg_test_tool_module.py", TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = graph(
        """
        tools:
          answer: {module: yg_test_tool_module, function: answer}
        nodes:
          compute: {type: python, tool: answer, state_key: result}
        edges:
          - {from: START, to: compute}
          - {from: compute, to: END}
        """
    )
    assert app.invoke({}, thread())["result"] == 42


def test_python_node_returning_an_undeclared_key_names_node_and_key(tmp_path, graph):
    write(tmp_path, "tools.py", TOOLS)
    app = graph(
        """
        state: {total: int}
        tools:
          sneaky: {path: tools.py, function: sneaky}
        nodes:
          calc: {type: python, tool: sneaky}
        edges:
          - {from: START, to: calc}
          - {from: calc, to: END}
        """
    )
    with pytest.raises(GraphRuntimeError) as caught:
        app.invoke({}, thread())
    assert caught.value.node == "calc"
    assert "'undeclared'" in str(caught.value)
    assert "node 'calc'" in str(caught.value)


def test_python_node_returning_a_non_dict_without_state_key_is_an_error(tmp_path, graph):
    write(tmp_path, "tools.py", TOOLS)
    app = graph(
        """
        tools:
          not_a_dict: {path: tools.py, function: not_a_dict}
        nodes:
          calc: {type: python, tool: not_a_dict}
        edges:
          - {from: START, to: calc}
          - {from: calc, to: END}
        """
    )
    with pytest.raises(GraphRuntimeError, match="node 'calc'.*list.*state_key"):
        app.invoke({}, thread())


# --- passthrough and typed templates ----------------------------------------------------


def test_passthrough_templates_keep_their_types(graph):
    app = graph(
        """
        state:
          turn: int
          answers: list
          answer: str
        nodes:
          step:
            type: passthrough
            output:
              turn: "{state.turn + 1}"
              answers: "{state.answers + [state.answer]}"
              is_late: "{state.turn >= 2}"
              nothing: "{none}"
              label: "turn {state.turn + 1} of 3"
              jinja: "{{ state.answer | upper }}!"
        edges:
          - {from: START, to: step}
          - {from: step, to: END}
        """
    )
    result = app.invoke({"turn": 2, "answers": ["a"], "answer": "b"}, thread())
    assert result["turn"] == 3 and type(result["turn"]) is int
    assert result["answers"] == ["a", "b"]
    assert result["is_late"] is True
    assert result["nothing"] is None
    assert result["label"] == "turn 3 of 3"
    assert result["jinja"] == "B!"


def test_passthrough_sees_declared_defaults_before_anything_writes_them(graph):
    app = graph(
        """
        state:
          count: {type: int, default: 10}
          greeting: {type: str, default: "hi"}
        nodes:
          bump:
            type: passthrough
            output:
              count: "{state.count + 1}"
              text: "{state.greeting} there"
        edges:
          - {from: START, to: bump}
          - {from: bump, to: END}
        """
    )
    result = app.invoke({}, thread())
    assert result["count"] == 11
    assert result["text"] == "hi there"
    # an input value wins over the default
    assert app.invoke({"count": 1}, thread())["count"] == 2


# --- state reducers ---------------------------------------------------------------------


def test_add_reducer_accumulates_and_plain_fields_are_replaced(graph):
    app = graph(
        """
        state:
          log: {type: list, reducer: add, default: []}
          score: {type: int, reducer: add}
          last: str
        nodes:
          one:
            type: passthrough
            output: {log: "{['one']}", score: "{1}", last: "one"}
          two:
            type: passthrough
            output: {log: "{['two']}", score: "{10}", last: "two"}
        edges:
          - {from: START, to: one}
          - {from: one, to: two}
          - {from: two, to: END}
        """
    )
    result = app.invoke({"log": ["start"], "score": 100}, thread())
    assert result["log"] == ["start", "one", "two"]
    assert result["score"] == 111
    assert result["last"] == "two"


# --- map --------------------------------------------------------------------------------


def test_map_runs_a_passthrough_per_item_and_collects_in_order(graph):
    app = graph(
        """
        state: {numbers: list}
        nodes:
          square:
            type: map
            over: "{state.numbers}"
            as: n
            node:
              type: passthrough
              output: {n: "{n}", square: "{n * n}"}
            collect: squares
        edges:
          - {from: START, to: square}
          - {from: square, to: END}
        """
    )
    result = app.invoke({"numbers": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}, thread())
    assert result["squares"] == [{"n": n, "square": n * n} for n in range(1, 11)]
    assert app.invoke({"numbers": []}, thread())["squares"] == []


def test_map_runs_an_llm_per_item(graph):
    app = graph(
        """
        state: {topics: list}
        nodes:
          describe:
            type: map
            over: "{state.topics}"
            as: topic
            node:
              type: llm
              prompt: {user: "about {topic}"}
        edges:
          - {from: START, to: describe}
          - {from: describe, to: END}
        """
    )
    # collect defaults to the node name
    result = app.invoke({"topics": ["cats", "dogs", "owls"]}, thread())
    assert result["describe"] == ["about cats", "about dogs", "about owls"]


def test_map_runs_a_python_tool_per_item(tmp_path, graph):
    write(tmp_path, "tools.py", "def shout(view):\n    return view['word'].upper()\n")
    app = graph(
        """
        tools:
          shout: {path: tools.py, function: shout}
        nodes:
          loud:
            type: map
            over: "{['a', 'b']}"
            as: word
            node: {type: python, tool: shout}
            collect: words
        edges:
          - {from: START, to: loud}
          - {from: loud, to: END}
        """
    )
    assert app.invoke({}, thread())["words"] == ["A", "B"]


def test_map_over_a_non_list_names_the_node(graph):
    app = graph(
        """
        state: {numbers: any}
        nodes:
          each:
            type: map
            over: "{state.numbers}"
            as: n
            node: {type: passthrough, output: {n: "{n}"}}
        edges:
          - {from: START, to: each}
          - {from: each, to: END}
        """
    )
    with pytest.raises(GraphRuntimeError, match="node 'each'.*int"):
        app.invoke({"numbers": 5}, thread())


def test_declared_defaults_are_in_the_final_state_and_input_wins():
    from langgraph.checkpoint.memory import InMemorySaver

    from yamlgraph.config import load_graph_source
    from yamlgraph.graph_loader import compile_graph

    config = load_graph_source(
        """
state:
  tone: {type: str, default: friendly}
  tags: {type: list, reducer: add, default: []}
nodes:
  greet:
    type: passthrough
    output: {greeting: "a {state.tone} hello", tags: "{['greeted']}"}
edges: [{from: START, to: greet}, {from: greet, to: END}]
"""
    )
    app = compile_graph(config).compile(checkpointer=InMemorySaver())

    plain = app.invoke({}, {"configurable": {"thread_id": "a"}})
    given = app.invoke({"tone": "formal"}, {"configurable": {"thread_id": "b"}})

    assert plain["tone"] == "friendly"
    assert plain["greeting"] == "a friendly hello"
    assert plain["tags"] == ["greeted"]
    assert given["tone"] == "formal"
    assert given["greeting"] == "a formal hello"
