"""Chat graphs and review questions in the engine: the `messages` state type, chat `llm`
and `agent` nodes, `answer_from: messages`, `review:` interrupts; every mistake in the
YAML is reported with its path and line."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from tests.yamlgraph.conftest import write
from yamlgraph.answers import answer_errors, received_answer, response_schema
from yamlgraph.errors import GraphValidationError
from yamlgraph.graph_loader import compile_graph, load_graph_config

CONFIG = {"configurable": {"thread_id": "t"}}


def problems(tmp_path, text: str) -> dict[tuple[str, int | None], str]:
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(write(tmp_path, "graph.yaml", text))
    return {(issue.path, issue.line): issue.message for issue in caught.value.issues}


def compiled(tmp_path, text: str):
    config = load_graph_config(write(tmp_path, "graph.yaml", text))
    return compile_graph(config).compile(checkpointer=InMemorySaver())


CHAT = """
state:
  messages: {type: messages}
nodes:
  reply:
    type: llm
    state_key: messages
    prompt: {system: "Be brief."}
    responses: ["first answer", "second answer"]
edges:
  - {from: START, to: reply}
  - {from: reply, to: END}
"""


def test_chat_llm_sees_the_conversation_and_appends_its_reply(tmp_path):
    app = compiled(tmp_path, CHAT)

    app.invoke({"messages": [{"type": "human", "content": "hi", "id": "h1"}]}, CONFIG)
    result = app.invoke({"messages": [{"role": "user", "content": "and?"}]}, CONFIG)

    messages = result["messages"]
    assert [type(m) for m in messages] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    assert [m.content for m in messages] == ["hi", "first answer", "and?", "second answer"]
    assert messages[0].id == "h1"


def test_chat_reply_streams_under_the_id_it_is_stored_with(tmp_path):
    app = compiled(tmp_path, CHAT)

    chunks = [
        chunk
        for chunk, _meta in app.stream(
            {"messages": [{"type": "human", "content": "hi"}]}, CONFIG, stream_mode="messages"
        )
        if chunk.content
    ]

    stored = app.get_state(CONFIG).values["messages"][-1]
    assert "".join(c.content for c in chunks) == "first answer" and len(chunks) == 2
    assert {c.id for c in chunks} == {stored.id}


def test_chat_agent_appends_its_tool_turns(tmp_path):
    write(tmp_path, "tools.py", "def add(a: int, b: int) -> int:\n    return a + b\n")
    app = compiled(
        tmp_path,
        """
        state:
          chat: {type: messages}
        tools:
          add: {path: tools.py, function: add, description: adds}
        nodes:
          helper:
            type: agent
            state_key: chat
            tools: [add]
            responses:
              - {tool_calls: [{name: add, args: {a: 2, b: 3}}]}
              - "It is 5."
        edges:
          - {from: START, to: helper}
          - {from: helper, to: END}
        """,
    )

    chat = app.invoke({"chat": "what is 2 + 3?"}, CONFIG)["chat"]

    assert [type(m) for m in chat] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert chat[2].content == "5" and chat[3].content == "It is 5."


def test_a_chat_question_is_asked_and_answered_in_the_conversation(tmp_path):
    app = compiled(
        tmp_path,
        """
        state:
          messages: {type: messages}
        nodes:
          ask:
            type: interrupt
            message: "Your name?"
            answer_from: messages
            choices: [Ada, Bo]
            resume_key: name
        edges:
          - {from: START, to: ask}
          - {from: ask, to: END}
        """,
    )
    first = app.invoke({"messages": []}, CONFIG)
    assert [m.content for m in first["messages"]] == ["Your name?"]

    done = app.invoke(Command(resume=[{"type": "human", "content": "Ada", "id": "u1"}]), CONFIG)

    assert done["name"] == "Ada"
    assert [(m.type, m.content, m.id) for m in done["messages"]][-1] == ("human", "Ada", "u1")
    schema = response_schema(load_graph_config(tmp_path / "graph.yaml").nodes["ask"].options)
    assert schema["answer_from"] == "messages" and schema["enum"] == ["Ada", "Bo"]


REVIEW = """
state:
  draft: str
nodes:
  confirm:
    type: interrupt
    review:
      action: publish
      args: {text: "{state.draft}"}
      description: "Publish {state.draft}?"
      allowed: [approve, reject]
    resume_key: decision
edges:
  - {from: START, to: confirm}
  - {from: confirm, to: END}
"""


def test_review_asks_in_the_hitl_shape_and_gets_the_decision(tmp_path):
    app = compiled(tmp_path, REVIEW)
    asked = app.invoke({"draft": "hello"}, CONFIG)["__interrupt__"][0].value

    assert asked == {
        "action_requests": [
            {"name": "publish", "args": {"text": "hello"}, "description": "Publish hello?"}
        ],
        "review_configs": [{"action_name": "publish", "allowed_decisions": ["approve", "reject"]}],
    }
    done = app.invoke(Command(resume=[{"type": "accept", "args": None}]), CONFIG)
    assert done["decision"] == {"type": "approve", "args": {"text": "hello"}, "message": None}


def test_review_answers_are_checked_like_choices():
    payload = {
        "action_requests": [{"name": "publish", "args": {"text": "x"}, "description": ""}],
        "review_configs": [{"action_name": "publish", "allowed_decisions": ["approve", "edit"]}],
    }
    schema = response_schema({"review": {"action": "publish"}}, payload)

    assert answer_errors(schema, {"decisions": [{"type": "approve"}]}) == []
    assert answer_errors(schema, {"decisions": [{"type": "nope"}]}) == [
        "unknown decision type 'nope'; use one of: approve, edit"
    ]
    assert answer_errors(schema, {"decisions": [{"type": "reject"}]}) == [
        "decision 'reject' is not allowed here; use one of: approve, edit"
    ]
    edited = {"type": "edit", "edited_action": {"name": "other", "args": {}}}
    assert answer_errors(schema, {"decisions": [edited]}) == [
        "edited_action.name 'other' is not the reviewed action 'publish'"
    ]
    inbox_edit = [{"type": "edit", "args": {"action": "publish", "args": {"text": "y"}}}]
    assert received_answer(schema, inbox_edit) == {
        "type": "edit",
        "args": {"text": "y"},
        "message": None,
    }
    plain = response_schema({"choices": ["yes", "no"]})
    assert answer_errors(plain, [{"type": "response", "args": "maybe"}]) == [
        "must be one of: yes, no"
    ]
    assert answer_errors(plain, [{"type": "accept", "args": None}]) == [
        "'accept' does not answer this question; respond with your answer"
    ]
    assert received_answer(plain, [{"type": "response", "args": "yes"}]) == "yes"
    a_list = response_schema({"response": {"type": "array"}})
    assert answer_errors(a_list, [{"type": "a"}]) == []  # not agent-inbox's: an answer
    assert received_answer(a_list, [{"type": "a"}]) == [{"type": "a"}]


def test_mistakes_are_named_with_their_lines(tmp_path):
    found = problems(
        tmp_path,
        """\
state:
  messages: {type: messages, reducer: add}
  notes: str
nodes:
  pick:
    type: router
    prompt: {user: "x"}
    state_key: messages
    routes: {a: END}
  ask:
    type: interrupt
    message: "?"
    answer_from: notes
  check:
    type: interrupt
    review:
      args: {a: 1}
      allowed: [approve, shout]
      colour: red
    choices: [a]
edges:
  - {from: START, to: pick}
  - {from: pick, to: ask}
  - {from: ask, to: check}
  - {from: check, to: END}
""",
    )

    assert found[("state.messages.reducer", 2)].startswith(
        "a messages field merges by LangGraph's add_messages"
    )
    assert found[("nodes.pick.state_key", 8)] == (
        "'messages' is a messages field; a router node cannot write to a conversation"
    )
    assert found[("nodes.ask.answer_from", 13)] == (
        "answer_from must name a state field declared {type: messages}, not 'notes'"
    )
    assert found[("nodes.check.review.action", 16)] == "a review needs 'action' (the action's name)"
    assert found[("nodes.check.review.allowed.1", 18)] == (
        "unknown decision 'shout'; use approve, edit, reject"
    )
    assert found[("nodes.check.review.colour", 19)].startswith("unknown review key 'colour'")
    assert found[("nodes.check.choices", 20)].startswith("a review question is answered by a")


def test_a_review_read_and_answered_at_a_terminal():
    from yamlgraph.answers import pick_choice, question_as_text

    payload = {
        "action_requests": [{"name": "send", "args": {"to": "bo"}, "description": "Send it?"}],
        "review_configs": [{"action_name": "send", "allowed_decisions": ["approve", "reject"]}],
    }
    schema = response_schema({}, payload)

    assert question_as_text(payload, schema).splitlines() == [
        "Send it?",
        "  action: send",
        '  args: {"to": "bo"}',
        "  1) approve",
        "  2) reject",
    ]
    assert pick_choice("1", schema) == {"decisions": [{"type": "approve"}]}
    assert pick_choice("reject: too early", schema) == {
        "decisions": [{"type": "reject", "message": "too early"}]
    }
    assert pick_choice("edit", schema) is None  # not allowed here: refused as typed
    from yamlgraph.answers import question_sentence

    assert question_sentence(payload) == "Send it?"  # what the admin's pages show


def test_questions_as_agent_inbox_cards():
    from yamlgraph.answers import inbox_card

    plain = inbox_card("Your name?")
    assert plain["description"] == "Your name?"
    assert plain["config"] == {  # Respond only: no button but the answer box answers
        "allow_accept": False,
        "allow_edit": False,
        "allow_respond": True,
        "allow_ignore": False,
    }
    asked = {"question": "Approve?", "amount": 12, "choices": ["yes", "no"]}
    card = inbox_card(asked)
    assert card["action_request"] == {"action": "question", "args": {"amount": 12}}
    assert card["description"] == "Approve?\n\nAnswer with one of: yes, no"
    assert inbox_card("Size?", {"enum": ["s", "m"]})["description"].endswith("one of: s, m")
    payload = {
        "action_requests": [{"name": "send", "args": {"to": "bo"}, "description": "Send it?"}],
        "review_configs": [{"action_name": "send", "allowed_decisions": ["approve", "edit"]}],
    }
    assert inbox_card(payload) == {}  # agent-inbox reads the HITL shape itself
    assert inbox_card([plain]) == {}  # already a card
