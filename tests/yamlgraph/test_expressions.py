"""The safe expression language: what it accepts, how it evaluates, what it refuses."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from yamlgraph.expressions import Expression, ExpressionError, compile_expression


def ev(text: str, state: dict | None = None, variables: dict | None = None):
    return compile_expression(text).evaluate(state or {}, variables)


STATE = {
    "answer": "yes",
    "turn": 2,
    "score": 0.75,
    "approved": True,
    "items": [10, 20, 30],
    "user": {"name": "Ada", "tags": ["x", "y"]},
    "d": {"k": "v", "with space": 1, 0: "zero"},
    "_route": "left",
    "nothing": None,
}


# --- names and paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state.answer", "yes"),
        ("answer", "yes"),
        ("state.user.name", "Ada"),
        ("user.name", "Ada"),
        ("state.items[0]", 10),
        ("state.items[-1]", 30),
        ('state.d["k"]', "v"),
        ("state.d['with space']", 1),
        ("state.d[0]", "zero"),
        ("state.user.tags[1]", "y"),
        ('state["answer"]', "yes"),
        ("state._route", "left"),
        ("_route", "left"),
    ],
)
def test_paths_resolve(text, expected):
    assert ev(text, STATE) == expected


def test_bare_state_is_the_mapping_itself():
    assert ev("state", STATE) is STATE


@pytest.mark.parametrize(
    "text",
    [
        "state.missing",
        "missing",
        "state.missing.deeper.still",
        "state.items[10]",
        "state.items[-10]",
        'state.d["nope"]',
        "state.nothing.x",
        "state.answer.upper",  # attribute of a str: methods never resolve
        "state.items.append",
        "state.turn.real.x",
    ],
)
def test_missing_paths_are_none(text):
    assert ev(text, STATE) is None


def test_missing_key_comparison_works_before_key_exists():
    assert ev("state.approved == true", {}) is False
    assert ev("state.approved == true", {"approved": True}) is True
    assert ev("state.approved != true", {}) is True


def test_variables_win_over_state_but_not_over_state_name():
    state = {"item": "from-state", "x": 1}
    assert ev("item", state, {"item": "from-var"}) == "from-var"
    assert ev("item", state, {}) == "from-state"
    assert ev("x", state, {"item": 5}) == 1
    assert ev("state.item", state, {"item": "from-var"}) == "from-state"
    assert ev("state", state, {"state": "nope"}) is state


def test_variable_value_none_is_not_replaced_by_state():
    assert ev("item", {"item": 1}, {"item": None}) is None


def test_item_paths_in_variables():
    assert ev("item.score > 0.5", {}, {"item": {"score": 0.9}}) is True


@dataclass
class Critique:
    score: float
    _secret: str = "hidden"

    def method(self) -> str:
        return "called"


def test_object_attributes_are_read_but_not_private_or_methods():
    state = {"critique": Critique(score=0.9)}
    assert ev("state.critique.score", state) == 0.9
    assert ev("critique.score >= 0.8", state) is True
    assert ev("state.critique._secret", state) is None
    assert ev("state.critique.method", state) is None


def test_underscore_keys_work_in_dicts():
    assert ev("state.meta._private", {"meta": {"_private": 1}}) == 1


# --- literals and operators ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("2.5", 2.5),
        ("'s'", "s"),
        ('"s"', "s"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("True", True),
        ("False", False),
        ("None", None),
        ("[1, 'a', null]", [1, "a", None]),
        ("{'a': 1, 'b': [true]}", {"a": 1, "b": [True]}),
        ("(1, 2)", (1, 2)),
        ("-3", -3),
        ("-state.turn", -2),
        ("state.turn + 1", 3),
        ("state.turn - 1", 1),
        ("state.turn * 3", 6),
        ("state.turn / 4", 0.5),
        ("1 + 2 * 3", 7),
        ("state.answer + '!'", "yes!"),
        ("state.items + [40]", [10, 20, 30, 40]),
        ("state.items + state.user.tags", [10, 20, 30, "x", "y"]),
        ("'big' if state.turn > 1 else 'small'", "big"),
        ("'big' if state.turn > 5 else 'small'", "small"),
        ("{'n': state.turn + 1, 'who': user.name}", {"n": 3, "who": "Ada"}),
    ],
)
def test_literals_and_arithmetic(text, expected):
    result = ev(text, STATE)
    assert result == expected
    assert type(result) is type(expected)


def test_list_plus_item_appends_like_yamlgraph():
    assert ev("state.items + state.answer", STATE) == [10, 20, 30, "yes"]


def test_list_addition_does_not_mutate_state():
    state = {"items": [1]}
    assert ev("state.items + [2]", state) == [1, 2]
    assert state == {"items": [1]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state.turn == 2", True),
        ("state.turn != 2", False),
        ("state.turn < 3", True),
        ("state.turn <= 2", True),
        ("state.turn > 2", False),
        ("state.turn >= 2", True),
        ("1 < state.turn < 3", True),
        ("1 < state.turn < 2", False),
        ("'x' in state.user.tags", True),
        ("'z' not in state.user.tags", True),
        ("'k' in state.d", True),
        ("'es' in state.answer", True),
        ("state.score < 0.8 and state.approved", True),
        ("state.score > 0.8 or state.answer == 'yes'", True),
        ("not state.approved", False),
        ("not state.missing", True),
    ],
)
def test_comparisons_and_logic(text, expected):
    assert ev(text, STATE) is expected


def test_and_or_return_operand_values_like_python():
    assert ev("state.missing or 'default'", STATE) == "default"
    assert ev("state.answer and state.turn", STATE) == 2


def test_and_or_short_circuit():
    # the right side would fail (cannot negate a str) if it were evaluated
    assert ev("false and -state.answer", STATE) is False
    assert ev("true or -state.answer", STATE) is True


@pytest.mark.parametrize(
    "text",
    [
        "state.missing < 3",
        "null < 3",
        "state.answer > 1",
        "[1] >= 2",
        "3 in state.turn",
        "3 not in state.turn",
        "1 in 'abc'",
    ],
)
def test_incompatible_comparisons_are_false(text):
    assert ev(text, STATE) is False


def test_membership_in_missing_container():
    assert ev("'x' in state.missing", STATE) is False
    assert ev("'x' not in state.missing", STATE) is True


# --- runtime errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("state.answer - 1", "'-' needs numbers, got str and int"),
        ("state.missing + 1", "cannot add NoneType and int"),
        ("state.answer + 1", "cannot add str and int"),
        ("state.turn * 'x'", "'*' needs numbers"),
        ("-state.answer", "cannot negate str"),
        ("state.turn / 0", "division by zero"),
        ("{[1]: 2}", "unhashable dict key list"),
    ],
)
def test_runtime_type_errors_raise_expression_error(text, fragment):
    with pytest.raises(ExpressionError, match="in expression") as info:
        ev(text, STATE)
    assert fragment in str(info.value)


def test_runtime_error_offset_points_at_operator_node():
    with pytest.raises(ExpressionError) as info:
        ev("1 + (state.answer - 1)", STATE)
    assert info.value.offset == 5


# --- rejected constructs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len(x)", "function calls are not allowed in expressions: 'len(x)'"),
        ("state.answer.upper()", "function calls are not allowed in expressions"),
        ("lambda: 1", "lambdas are not allowed in expressions: 'lambda: 1'"),
        ("[x for x in items]", "comprehensions are not allowed in expressions"),
        ("{k: 1 for k in items}", "comprehensions are not allowed in expressions"),
        ("{x for x in items}", "comprehensions are not allowed in expressions"),
        ("(x for x in items)", "generator expressions are not allowed in expressions"),
        ("(y := 1)", "assignment expressions (:=) are not allowed in expressions"),
        ("f'{x}'", "f-strings are not allowed in expressions"),
        ("{1, 2}", "set literals are not allowed in expressions"),
        ("[*items]", "starred expressions are not allowed in expressions"),
        ("{**d}", "'**' unpacking is not allowed in expressions"),
        (
            "().__class__",
            "attribute access is only allowed on names and paths (like state.answer) in expressions: '().__class__'",
        ),
        ("'abc'.upper", "attribute access is only allowed on names and paths"),
        ("[1, 2][0]", "subscripts are only allowed on names and paths"),
        ("true.x", "attribute access is only allowed on names and paths"),
        ("__builtins__", "names starting with '__' are not allowed in expressions: '__builtins__'"),
        ("state.__class__", "names starting with '__' are not allowed in expressions: '__class__'"),
        ("x.__dict__.y", "'__dict__'"),
        ("state['__class__']", "'__class__'"),
        ("state.items[0:2]", "slices are not allowed in expressions: 'state.items[0:2]'"),
        ("state.items[state.turn]", "subscripts need a literal int or string key"),
        ("state.items[1.5]", "subscripts need a literal int or string key"),
        ("x is None", "'is' comparisons are not allowed in expressions (use == null)"),
        ("x is not None", "'is' comparisons are not allowed"),
        ("2 ** 100", "the '**' operator is not allowed in expressions: '2 ** 100'"),
        ("7 % 2", "the '%' operator is not allowed"),
        ("7 // 2", "the '//' operator is not allowed"),
        ("1 | 2", "the '|' operator is not allowed"),
        ("~1", "the unary '~' operator is not allowed"),
        ("+1", "the unary '+' operator is not allowed"),
        ("b'x'", "only numbers, strings, true/false/null, lists and dicts are allowed"),
        ("1j", "only numbers, strings"),
        ("...", "only numbers, strings"),
    ],
)
def test_disallowed_constructs(text, message):
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    assert message in str(info.value)


def test_disallowed_construct_reports_its_offset():
    with pytest.raises(ExpressionError) as info:
        compile_expression("state.a == len(x)")
    assert info.value.offset == 11


def test_expression_error_is_a_value_error():
    assert issubclass(ExpressionError, ValueError)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("a ==", 4),  # end of input
        ("a b", 2),
        ("  a b", 4),  # leading whitespace is counted
        ("é é", 2),  # characters, not bytes
        ("x = 1", 2),
    ],
)
def test_syntax_errors_have_offsets(text, offset):
    with pytest.raises(ExpressionError, match="invalid expression") as info:
        compile_expression(text)
    assert info.value.offset == offset


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_expression_is_an_error(text):
    with pytest.raises(ExpressionError, match="empty expression"):
        compile_expression(text)


def test_non_string_is_an_error():
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(3)  # type: ignore[arg-type]


def test_statements_are_syntax_errors():
    with pytest.raises(ExpressionError):
        compile_expression("import os")


# --- shape of Expression ------------------------------------------------------------------


def test_multiline_expressions_from_yaml_blocks():
    expr = compile_expression("state.turn > 1\n  and state.approved\n")
    assert expr.evaluate(STATE) is True


def test_leading_and_trailing_whitespace_is_fine():
    assert ev("  state.turn  ", STATE) == 2


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("state.a.b", {"a"}),
        ("a", {"a"}),
        ("a.b.c", {"a"}),
        ("state['a'].b", {"a"}),
        ("state.a == b and c[0] > state.d.e", {"a", "b", "c", "d"}),
        ("state", set()),
        ("true or null or True", set()),
        ("'a' in [1, 2]", set()),
        ("state._route == 'x'", {"_route"}),
        ("x if y else {'k': z}", {"x", "y", "z"}),
    ],
)
def test_names(text, names):
    assert compile_expression(text).names == frozenset(names)


def test_source_and_repr():
    expr = compile_expression("state.a == 1")
    assert isinstance(expr, Expression)
    assert expr.source == "state.a == 1"
    assert "state.a == 1" in repr(expr)


def test_compile_is_cached():
    assert compile_expression("state.cached + 1") is compile_expression("state.cached + 1")


def test_one_expression_is_safe_to_share_between_threads():
    expr = compile_expression("state.n * 2")
    results: dict[int, int] = {}

    def work(n: int) -> None:
        results[n] = expr.evaluate({"n": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n * 2 for n in range(20)}


def test_evaluate_never_calls_eval(monkeypatch):
    import builtins

    def boom(*args, **kwargs):
        raise AssertionError("eval must not be used")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    assert compile_expression("state.never_eval + 1").evaluate({"never_eval": 1}) == 2
