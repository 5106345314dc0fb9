"""Interrupt nodes: the question, the answer, idempotence, parallel pauses, restarts."""

from __future__ import annotations

from langgraph.types import Command

from tests.yamlgraph.conftest import questions, sqlite_app, step_in_new_process, thread, write


def test_interrupt_pauses_with_the_rendered_message_and_resume_stores_the_answer(graph):
    app = graph(
        """
        state: {name: str}
        nodes:
          ask:
            type: interrupt
            message: "Hello {state.name}, how are you?"
          reply:
            type: passthrough
            output: {reply: "{state.name} feels {state.user_input}"}
        edges:
          - {from: START, to: ask}
          - {from: ask, to: reply}
          - {from: reply, to: END}
        """
    )
    config = thread()
    paused = app.invoke({"name": "Ada"}, config)
    assert questions(paused) == ["Hello Ada, how are you?"]
    # the question is also in state (default state_key), visible while the session waits
    assert paused["interrupt_message"] == "Hello Ada, how are you?"
    waiting = app.get_state(config)
    assert waiting.values["interrupt_message"] == "Hello Ada, how are you?"
    assert waiting.next
    assert "reply" not in paused

    done = app.invoke(Command(resume="great"), config)
    assert "__interrupt__" not in done
    assert done["user_input"] == "great"  # default resume_key
    assert done["reply"] == "Ada feels great"
    assert not app.get_state(config).next


def test_dict_message_is_rendered_with_types_and_keys_are_configurable(graph):
    app = graph(
        """
        state: {amount: float, who: str}
        nodes:
          approve:
            type: interrupt
            message:
              question: "Approve {state.who}'s {state.amount}?"
              amount: "{state.amount}"
              big: "{state.amount > 100}"
              choices: ["yes", "no"]
            state_key: request
            resume_key: decision
        edges:
          - {from: START, to: approve}
          - {from: approve, to: END}
        """
    )
    config = thread()
    paused = app.invoke({"amount": 250.5, "who": "Bob"}, config)
    expected = {
        "question": "Approve Bob's 250.5?",
        "amount": 250.5,
        "big": True,
        "choices": ["yes", "no"],
    }
    assert questions(paused) == [expected]
    assert paused["request"] == expected
    assert "interrupt_message" not in paused

    # the answer is stored as given, whatever its type
    done = app.invoke(Command(resume={"ok": True, "note": "fine"}), config)
    assert done["decision"] == {"ok": True, "note": "fine"}
    assert done["request"] == expected


def test_prompted_interrupt_asks_the_llm_once_and_resume_does_not_ask_again(graph):
    app = graph(
        """
        state: {topic: str}
        nodes:
          ask:
            type: interrupt
            prompt: {user: "Write a question about {state.topic}"}
            responses: ["What do you like about cats?", "a second, different question"]
            resume_key: answer
        edges:
          - {from: START, to: ask}
          - {from: ask, to: END}
        """
    )
    config = thread()
    paused = app.invoke({"topic": "cats"}, config)
    assert questions(paused) == ["What do you like about cats?"]
    done = app.invoke(Command(resume="they purr"), config)
    assert done["interrupt_message"] == "What do you like about cats?"
    assert done["answer"] == "they purr"


LOOP = """
state:
  turn: {type: int, default: 0}
  answers: {type: list, reducer: add, default: []}
nodes:
  ask:
    type: interrupt
    message: "Question {state.turn + 1}?"
    idempotent: IDEMPOTENT
    resume_key: answer
  record:
    type: passthrough
    output:
      turn: "{state.turn + 1}"
      answers: "{[state.answer]}"
edges:
  - {from: START, to: ask}
  - {from: ask, to: record}
  - {from: record, to: ask, condition: "state.turn < 3"}
  - {from: record, to: END}
"""


def _answer_all(app, config) -> tuple[list, dict]:
    asked = []
    result = app.invoke({}, config)
    while result.get("__interrupt__"):
        asked += questions(result)
        result = app.invoke(Command(resume=f"answer {len(asked)}"), config)
    return asked, result


def test_idempotent_false_renders_the_question_again_on_each_visit(graph):
    app = graph(LOOP.replace("IDEMPOTENT", "false"))
    asked, result = _answer_all(app, thread())
    assert asked == ["Question 1?", "Question 2?", "Question 3?"]
    assert result["answers"] == ["answer 1", "answer 2", "answer 3"]
    assert result["interrupt_message"] == "Question 3?"


def test_idempotent_true_reuses_the_first_rendered_question_in_a_loop(graph):
    app = graph(LOOP.replace("IDEMPOTENT", "true"))
    asked, result = _answer_all(app, thread())
    assert asked == ["Question 1?", "Question 1?", "Question 1?"]
    assert result["answers"] == ["answer 1", "answer 2", "answer 3"]


def test_idempotent_is_the_default(graph):
    app = graph(LOOP.replace("    idempotent: IDEMPOTENT\n", ""))
    asked, _ = _answer_all(app, thread())
    assert asked == ["Question 1?"] * 3


PARALLEL = """
state:
  log: {type: list, reducer: add, default: []}
nodes:
  ask_a:
    type: interrupt
    message: "A?"
    state_key: question_a
    resume_key: a
  ask_b:
    type: interrupt
    message: {field: "b", hint: "{1 + 1}"}
    state_key: question_b
    resume_key: b
  both:
    type: passthrough
    output: {summary: "{state.a} and {state.b}", log: "{['both']}"}
edges:
  - {from: START, to: [ask_a, ask_b]}
  - {from: [ask_a, ask_b], to: both}
  - {from: both, to: END}
"""


def _ids_by_question(result: dict) -> dict:
    """{"A?": id, "B": id} for the pending interrupts of PARALLEL."""
    ids = {}
    for item in result["__interrupt__"]:
        if item.value == "A?":
            ids["A?"] = item.id
        else:
            assert item.value == {"field": "b", "hint": 2}  # a dict message, rendered with types
            ids["B"] = item.id
    return ids


def test_parallel_interrupts_are_resumed_by_id_together(graph):
    app = graph(PARALLEL)
    config = thread()
    paused = app.invoke({}, config)
    ids = _ids_by_question(paused)
    assert set(ids) == {"A?", "B"}
    assert paused["question_a"] == "A?" and paused["question_b"] == {"field": "b", "hint": 2}

    done = app.invoke(Command(resume={ids["A?"]: "alpha", ids["B"]: "beta"}), config)
    assert "__interrupt__" not in done
    assert done["a"] == "alpha" and done["b"] == "beta"
    assert done["summary"] == "alpha and beta"
    assert done["log"] == ["both"]  # the join ran once


def test_parallel_interrupts_can_be_answered_one_at_a_time(graph):
    app = graph(PARALLEL)
    config = thread()
    paused = app.invoke({}, config)
    ids = _ids_by_question(paused)

    partly = app.invoke(Command(resume={ids["A?"]: "alpha"}), config)
    # only B is still pending, with the same id; the join has not run
    assert _ids_by_question(partly) == {"B": ids["B"]}
    assert partly["a"] == "alpha"
    assert "summary" not in partly

    done = app.invoke(Command(resume={ids["B"]: "beta"}), config)
    assert done["summary"] == "alpha and beta"


# --- a restart between the question and the answer --------------------------------------


def test_interrupt_resumed_in_another_process_from_a_sqlite_file(tmp_path):
    path = write(
        tmp_path,
        "interview.yaml",
        """
        state: {name: str, goal: str}
        nodes:
          ask_name:
            type: interrupt
            message: "What is your name?"
            state_key: q_name
            resume_key: name
          ask_goal:
            type: interrupt
            message: "What is your goal, {state.name}?"
            state_key: q_goal
            resume_key: goal
          wrap:
            type: passthrough
            output: {summary: "{state.name} wants {state.goal}"}
        edges:
          - {from: START, to: ask_name}
          - {from: ask_name, to: ask_goal}
          - {from: ask_goal, to: wrap}
          - {from: wrap, to: END}
        """,
    )
    db = tmp_path / "sessions.sqlite"
    first = sqlite_app(path, db).invoke({}, thread("restart"))
    assert questions(first) == ["What is your name?"]

    # another process, sharing only the sqlite file, takes the answer
    second = step_in_new_process(path, db, "restart", resume="Ada")
    assert second["__interrupt__"] == ["What is your goal, Ada?"]

    # and this process, with a fresh saver and graph, finishes the session
    app = sqlite_app(path, db)
    assert app.get_state(thread("restart")).values["q_goal"] == "What is your goal, Ada?"
    third = app.invoke(Command(resume="to fly"), thread("restart"))
    assert "__interrupt__" not in third
    assert third["summary"] == "Ada wants to fly"


def test_loop_limit_caps_how_many_questions_are_asked(graph):
    app = graph(
        LOOP.replace("IDEMPOTENT", "false").replace("state.turn < 3", "state.answer != 'stop'")
        + "loop_limits: {record: 2}\n"
    )
    asked, result = _answer_all(app, thread())
    assert asked == ["Question 1?", "Question 2?"]
    assert result["answers"] == ["answer 1", "answer 2"]
    assert result["turn"] == 2


async def test_loops_of_questions_work_with_the_async_api(graph):
    app = graph(LOOP.replace("IDEMPOTENT", "false") + "loop_limits: {record: 2}\n")
    config = thread()
    asked = []
    result = await app.ainvoke({}, config)
    while result.get("__interrupt__"):
        asked += questions(result)
        result = await app.ainvoke(Command(resume=f"answer {len(asked)}"), config)
    assert asked == ["Question 1?", "Question 2?"]
    assert result["answers"] == ["answer 1", "answer 2"]
