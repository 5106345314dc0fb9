"""Edge kinds: plain, parallel fan-out, join, condition, conditional (router), loop limits."""

from __future__ import annotations

import pytest
from langgraph.errors import GraphRecursionError

from tests.yamlgraph.conftest import thread
from yamlgraph.errors import GraphRuntimeError

# Every step appends its name to `trail`, so a test can see what ran and in which order.
STATE = """
state:
  trail: {type: list, reducer: add, default: []}
  n: {type: int, default: 0}
  kind: str
"""


def step(name: str) -> str:
    return f"""
  {name}:
    type: passthrough
    output: {{trail: "{{['{name}']}}"}}"""


def nodes(*names: str) -> str:
    return "nodes:" + "".join(step(name) for name in names) + "\n"


def test_plain_edges_run_in_sequence(graph):
    app = graph(
        STATE
        + nodes("a", "b", "c")
        + """
edges:
  - {from: START, to: a}
  - {from: a, to: b}
  - {from: b, to: c}
  - {from: c, to: END}
"""
    )
    assert app.invoke({}, thread())["trail"] == ["a", "b", "c"]


def test_fan_out_runs_branches_in_parallel_and_join_waits_for_all(graph):
    app = graph(
        STATE
        + nodes("split", "left", "right", "right2", "merge")
        + """
edges:
  - {from: START, to: split}
  - {from: split, to: [left, right]}
  - {from: right, to: right2}
  - {from: [left, right2], to: merge}
  - {from: merge, to: END}
"""
    )
    trail = app.invoke({}, thread())["trail"]
    assert trail[0] == "split"
    assert sorted(trail[1:3]) == ["left", "right"]
    # merge runs once, after both branches, even though one branch is longer
    assert trail[3:] == ["right2", "merge"]


def test_fan_out_without_join_runs_the_next_node_per_branch(graph):
    app = graph(
        STATE
        + nodes("left", "right", "after")
        + """
edges:
  - {from: START, to: [left, right]}
  - {from: left, to: after}
  - {from: right, to: after}
  - {from: after, to: END}
"""
    )
    trail = app.invoke({}, thread())["trail"]
    assert sorted(trail[:2]) == ["left", "right"]
    # two plain edges into `after` from branches of the same step: it runs once
    assert trail[2:] == ["after"]


CONDITIONS = (
    STATE
    + nodes("check", "big", "medium", "small")
    + """
edges:
  - {from: START, to: check}
  - {from: check, to: big, condition: "state.n > 100"}
  - {from: check, to: small}
  - {from: check, to: medium, condition: "state.n > 10"}
  - {from: big, to: END}
  - {from: medium, to: END}
  - {from: small, to: END}
"""
)


@pytest.mark.parametrize(
    ("n", "taken"),
    [
        (500, "big"),  # both conditions hold: the first in file order wins
        (50, "medium"),
        (5, "small"),  # none holds: the unconditional edge is the fallback
    ],
)
def test_conditions_are_tried_in_file_order_with_plain_edge_as_fallback(graph, n, taken):
    assert graph(CONDITIONS).invoke({"n": n}, thread())["trail"] == ["check", taken]


def test_conditions_can_combine_and_or_not(graph):
    app = graph(
        STATE
        + nodes("check", "passed", "failed")
        + """
edges:
  - {from: START, to: check}
  - {from: check, to: passed, condition: "state.n >= 1 and not (state.kind == 'x' or state.n == 3)"}
  - {from: check, to: failed}
  - {from: passed, to: END}
  - {from: failed, to: END}
"""
    )
    assert app.invoke({"n": 2, "kind": "y"}, thread())["trail"][-1] == "passed"
    assert app.invoke({"n": 2, "kind": "x"}, thread())["trail"][-1] == "failed"
    assert app.invoke({"n": 3, "kind": "y"}, thread())["trail"][-1] == "failed"


def test_a_condition_can_fan_out_to_a_list(graph):
    app = graph(
        STATE
        + nodes("check", "a", "b", "c")
        + """
edges:
  - {from: START, to: check}
  - {from: check, to: [a, b], condition: "state.n == 2"}
  - {from: check, to: c}
  - {from: a, to: END}
  - {from: b, to: END}
  - {from: c, to: END}
"""
    )
    assert sorted(app.invoke({"n": 2}, thread())["trail"][1:]) == ["a", "b"]
    assert app.invoke({"n": 1}, thread())["trail"][1:] == ["c"]


def test_no_matching_condition_and_no_fallback_names_the_node(graph):
    app = graph(
        STATE
        + nodes("check", "a")
        + """
edges:
  - {from: START, to: check}
  - {from: check, to: a, condition: "state.n == 1"}
  - {from: a, to: END}
"""
    )
    with pytest.raises(GraphRuntimeError, match=r"node 'check'.*state\.n == 1"):
        app.invoke({"n": 2}, thread())


def test_conditional_edge_routes_on_the_routers_choice(graph):
    app = graph(
        STATE
        + """
nodes:
  classify:
    type: router
    prompt: {user: "{state.kind}"}
    routes: {approve: accept, deny: reject}
"""
        + nodes("accept", "reject")[len("nodes:") :]
        + """
edges:
  - {from: START, to: classify}
  - {from: classify, to: [accept, reject], type: conditional}
  - {from: accept, to: END}
  - {from: reject, to: END}
"""
    )
    assert app.invoke({"kind": "approve"}, thread())["trail"] == ["accept"]
    assert app.invoke({"kind": "deny"}, thread())["trail"] == ["reject"]


LOOP = (
    STATE
    + """
nodes:
  work:
    type: passthrough
    output: {n: "{state.n + 1}", trail: "{['work']}"}
"""
    + nodes("done")[len("nodes:") :]
    + """
edges:
  - {from: START, to: work}
  - {from: work, to: work, condition: "state.n < 10"}
  - {from: work, to: done}
  - {from: done, to: END}
"""
)


def test_loop_runs_until_its_condition_fails(graph):
    result = graph(LOOP).invoke({"n": 7}, thread())
    assert result["n"] == 10
    assert result["trail"] == ["work"] * 3 + ["done"]


def test_loop_limits_stop_a_loop_and_loop_exits_say_where_to_go(graph):
    # the exit node is reachable only through loop_exits
    text = LOOP.replace("\nedges:", step("gave_up") + "\nedges:") + "  - {from: gave_up, to: END}\n"
    app = graph(text + "loop_limits: {work: 3}\nloop_exits: {work: gave_up}\n")
    result = app.invoke({"n": 0}, thread())
    assert result["n"] == 3
    assert result["trail"] == ["work"] * 3 + ["gave_up"]
    # Under the limit, the graph's own edges still decide.
    assert app.invoke({"n": 8}, thread())["trail"] == ["work", "work", "done"]


def test_loop_limit_without_exit_ends_the_graph(graph):
    result = graph(LOOP + "loop_limits: {work: 2}\n").invoke({"n": 0}, thread())
    assert result["n"] == 2
    assert result["trail"] == ["work", "work"]


def test_recursion_limit_from_config_is_applied_by_compile(graph):
    endless = LOOP.replace("state.n < 10", "state.n >= 0")
    app = graph(endless + "config: {recursion_limit: 5}\n")
    with pytest.raises(GraphRecursionError):
        app.invoke({"n": 0}, thread())
    # without the setting LangGraph's default (much higher) applies
    roomy = graph(LOOP + "config: {recursion_limit: 50}\n", name="roomy.yaml")
    assert roomy.invoke({"n": 0}, thread())["n"] == 10
