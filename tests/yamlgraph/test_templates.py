"""Templates: typed single expressions, interpolation, sandboxed Jinja2, checks."""

from __future__ import annotations

import pytest

from yamlgraph.templates import TemplateError, check_template, render, template_names

STATE = {
    "turn": 1,
    "answer": "blue",
    "answers": ["red"],
    "user": {"name": "Ada", "age": 36},
    "flag": True,
    "empty": None,
}


# --- (a) one expression keeps its type --------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{state.turn + 1}", 2),
        ("{state.answers + [state.answer]}", ["red", "blue"]),
        ("{state.user}", {"name": "Ada", "age": 36}),
        ("{state.flag}", True),
        ("{state.turn > 0}", True),
        ("{state.answer}", "blue"),
        ("{answer}", "blue"),
        ("{ {'n': state.turn} }", {"n": 1}),
        ("  {state.turn}\n", 1),  # YAML block scalars add whitespace
        ("{[1, 2]}", [1, 2]),
    ],
)
def test_single_expression_keeps_type(template, expected):
    result = render(template, STATE)
    assert result == expected
    assert type(result) is type(expected)


def test_single_missing_expression_is_none():
    assert render("{state.missing}", STATE) is None
    assert render("{missing.deep}", STATE) is None


def test_single_expression_sees_variables_first():
    assert render("{item}", {"item": "state"}, {"item": "var"}) == "var"
    assert render("{state.item}", {"item": "state"}, {"item": "var"}) == "state"


def test_single_expression_returns_fresh_list():
    state = {"answers": ["a"], "answer": "b"}
    result = render("{state.answers + [state.answer]}", state)
    assert result == ["a", "b"]
    assert state["answers"] == ["a"]


# --- (c) interpolation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello {state.user.name}!", "Hello Ada!"),
        ("Hello {user.name}, turn {turn}", "Hello Ada, turn 1"),
        ("next: {state.turn + 1}", "next: 2"),
        ("[{state.missing}]", "[]"),
        ("[{state.empty}]", "[]"),
        ("flag={flag}", "flag=True"),
        ("user: {state.user}", 'user: {"name": "Ada", "age": 36}'),
        ("all: {state.answers}", 'all: ["red"]'),
        ("{answer} and {answer}", "blue and blue"),
        ('key: {state.user["name"]}', "key: Ada"),
        ("brace in string: {'}'}", "brace in string: }"),
        ("stray } stays", "stray } stays"),
        ("no placeholders at all", "no placeholders at all"),
        ("", ""),
    ],
)
def test_interpolation(template, expected):
    assert render(template, STATE) == expected


def test_interpolation_uses_json_for_non_ascii_dicts():
    assert render("v: {d}", {"d": {"name": "Åsa"}}) == 'v: {"name": "Åsa"}'


def test_interpolated_values_are_not_rendered_again():
    state = {"answer": "{{ 7 * 7 }} {state.secret}", "secret": "s3cret"}
    assert render("You said: {answer}", state) == "You said: {{ 7 * 7 }} {state.secret}"
    assert render("{answer}", state) == "{{ 7 * 7 }} {state.secret}"


def test_interpolation_with_variables():
    assert render("{item} of {state.item}", {"item": 1}, {"item": 2}) == "2 of 1"


# --- (b) Jinja2 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {{ user.name }}", "Hi Ada"),
        ("Hi {{ state.user.name }}", "Hi Ada"),
        ("{% for a in answers %}<{{ a }}>{% endfor %}", "<red>"),
        ("{% if flag %}yes{% else %}no{% endif %}", "yes"),
        ("[{{ missing }}]", "[]"),
        ("[{{ missing.deeper.still }}]", "[]"),
        ("[{{ state.missing }}]", "[]"),
        ("{% for x in missing %}never{% endfor %}done", "done"),
        ("{{ answers | join(', ') }}", "red"),
        ("<b>{{ '<i>' }}</b>", "<b><i></b>"),  # no autoescaping
        ("{# comment #}text", "text"),
        ("{{ turn + 1 }}", "2"),  # Jinja output is always text
        ("{{ x }} {single}", "1 {single}"),  # single braces are plain text in Jinja
        ("line\n{{ turn }}\n", "line\n1\n"),  # trailing newline is kept
    ],
)
def test_jinja(template, expected):
    assert render(template, {**STATE, "x": 1}) == expected


def test_jinja_variables_override_state_and_state_stays_available():
    result = render("{{ item }}/{{ state.item }}", {"item": "s"}, {"item": "v"})
    assert result == "v/s"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ state.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ state.update({'turn': 99}) }}",
        "{{ answers.append('x') }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
    ],
)
def test_jinja_sandbox_blocks_escapes(template):
    state = {"turn": 1, "answers": ["red"]}
    try:
        result = render(template, state)
    except TemplateError as exc:
        assert "blocked by the template sandbox" in str(exc)
    else:
        # Unsafe attribute lookups are undefined: nothing leaks into the output.
        assert "class" not in result
        assert "module" not in result
        assert "function" not in result
    assert state == {"turn": 1, "answers": ["red"]}


def test_jinja_unsafe_attribute_renders_nothing():
    assert render("[{{ ''.__class__ }}]", {}) == "[]"


def test_jinja_call_on_unsafe_attribute_raises():
    with pytest.raises(TemplateError, match="sandbox"):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_jinja_runtime_error_is_template_error_with_text():
    with pytest.raises(TemplateError) as info:
        render("{{ 1 / 0 }}", {})
    assert "ZeroDivisionError" in str(info.value)
    assert "{{ 1 / 0 }}" in str(info.value)


def test_jinja_syntax_error_at_render_is_template_error():
    with pytest.raises(TemplateError, match="Jinja syntax error on line 1"):
        render("{{ oops ", {})


# --- recursion --------------------------------------------------------------------------------


def test_render_recurses_into_dicts_and_lists():
    template = {
        "question": "What now, {user.name}?",
        "turn": "{state.turn + 1}",
        "options": ["{answer}", "other", 3],
        "nested": {"{keys stay}": "{{ answer }}"},
        "n": 5,
        "none": None,
    }
    assert render(template, STATE) == {
        "question": "What now, Ada?",
        "turn": 2,
        "options": ["blue", "other", 3],
        "nested": {"{keys stay}": "blue"},
        "n": 5,
        "none": None,
    }


@pytest.mark.parametrize("value", [1, 2.5, True, None, b"x", ("{a}",)])
def test_other_values_returned_as_is(value):
    assert render(value, {"a": 1}) is value


# --- runtime errors --------------------------------------------------------------------------------


def test_expression_runtime_error_is_template_error_with_text():
    with pytest.raises(TemplateError) as info:
        render("{state.answer - 1}", STATE)
    message = str(info.value)
    assert "'-' needs numbers" in message
    assert "{state.answer - 1}" in message
    assert info.value.template == "{state.answer - 1}"


def test_interpolation_runtime_error_is_template_error():
    with pytest.raises(TemplateError, match="cannot add"):
        render("value: {state.missing + 1}", STATE)


@pytest.mark.parametrize(
    "template",
    ["Hi {len(x)}", "{", "Hi {name", "{}", "{__import__}", "text {a b} text"],
)
def test_bad_placeholders_raise_template_error(template):
    with pytest.raises(TemplateError):
        render(template, STATE)


def test_template_error_is_value_error_and_truncates_long_text():
    assert issubclass(TemplateError, ValueError)
    long = "x" * 1000 + " {len(x)}"
    with pytest.raises(TemplateError) as info:
        render(long, {})
    assert len(str(info.value)) < 600


# --- check_template / template_names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "{state.turn + 1}",
        "Hello {name}, {state.user.name}",
        "{{ name }} {% if x %}y{% endif %}",
        "",
    ],
)
def test_check_template_ok(text):
    assert check_template(text) == []


def test_check_template_reports_bad_expression_with_position():
    errors = check_template("Hello {len(x)}")
    assert errors == [
        "invalid expression '{len(x)}' at position 7: "
        "function calls are not allowed in expressions: 'len(x)'"
    ]


def test_check_template_reports_syntax_error_position():
    (error,) = check_template("ab {x ==}")
    assert "at position 8" in error


def test_check_template_reports_unclosed_brace():
    assert check_template("ab {x") == ["unclosed '{' at position 3"]


def test_check_template_reports_jinja_syntax():
    (error,) = check_template("line1\n{% for x in y %}")
    assert error.startswith("Jinja syntax error on line 2")


def test_check_template_ignores_non_strings():
    assert check_template(3) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{state.a.b}", {"a"}),
        ("{a}", {"a"}),
        ("x {a} y {state.b + c}", {"a", "b", "c"}),
        ("{{ a }} {{ state.b }} {{ state['c'] }}", {"a", "b", "c"}),
        ("{% for i in items %}{{ i }}{{ loop.index }}{{ range(2) }}{% endfor %}", {"items"}),
        ("plain", set()),
        ("{len(x)}", set()),
        ("{{ broken", set()),
    ],
)
def test_template_names(text, names):
    assert template_names(text) == names
