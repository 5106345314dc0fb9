"""`type: interrupt`: pauses for a person; the answer goes to `resume_key`.

An interrupt node is two LangGraph nodes: `NAME__prompt` renders the question and writes
it to `state_key`, then `NAME` pauses. So the question is in the checkpoint while the
session waits, and a resume never re-renders it (or re-asks an LLM).

Keys other modules validate plug in through `extension_modules` below (or
`yamlgraph.node_types.register_key_extension("interrupt", ...)`): each is a
`KeyExtension` naming its keys, its check and any `defaults:` keys it adds.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.types import interrupt

from yamlgraph.answers import (
    question_sentence,
    received_answer,
    response_schema,
    schema_problems,
)
from yamlgraph.config import PAYLOADS_KEY, GraphConfig, NodeConfig
from yamlgraph.messages import as_messages, last_human_text
from yamlgraph.node_types.base import MODEL_KEYS, Ends, GraphBuilder, NodeCheck, NodeType
from yamlgraph.nodes import NodeFunction, PromptedModel, node_errors
from yamlgraph.review import DECISIONS, review_problems, review_request
from yamlgraph.templates import render

DEFAULT_INTERRUPT_STATE_KEY = "interrupt_message"
DEFAULT_RESUME_KEY = "user_input"


def interrupt_entry(name: str) -> str:
    """Interrupt nodes are two LangGraph nodes; edges into the node go to this one."""
    return f"{name}__prompt"


def build_interrupt(graph: GraphConfig, node: NodeConfig) -> tuple[Any, NodeFunction]:
    """Returns (prepare, wait): prepare writes the question to state, wait pauses for it.

    Splitting them makes the rendered question visible in the checkpoint while the session
    waits, and a resume never re-renders (or re-asks an LLM for) the question.
    """
    state_key = node.get("state_key", DEFAULT_INTERRUPT_STATE_KEY)
    resume_key = node.get("resume_key", DEFAULT_RESUME_KEY)
    idempotent = bool(node.get("idempotent", True))
    model = PromptedModel(graph, node) if node.get("prompt") is not None else None
    review = node.get("review")
    conversation = node.get("answer_from")  # a messages field: a chat message answers

    def reuse(state: dict) -> tuple[bool, Any]:
        payloads = state.get(PAYLOADS_KEY) or {}
        if idempotent and node.name in payloads:
            return True, payloads[node.name]
        return False, None

    def rendered(state: dict) -> Any:
        if review is None:
            return render(node.get("message"), state)
        description = review.get("description", node.get("message", ""))
        return review_request(
            review["action"],
            render(review.get("args", {}), state),
            str(render(description, state) or ""),
            list(review.get("allowed", DECISIONS)),
        )

    def asked(payload: Any, found: bool) -> dict:
        update = {state_key: payload, PAYLOADS_KEY: {node.name: payload}}
        if conversation and not found:  # the question shows in the chat as the AI's turn
            update[conversation] = [AIMessage(content=question_sentence(payload))]
        return update

    @node_errors(node.name)
    def prepare(state: dict, config: RunnableConfig) -> dict:
        found, payload = reuse(state)
        if not found:
            payload = model.ask(state, config) if model else rendered(state)
        return asked(payload, found)

    @node_errors(node.name)
    async def aprepare(state: dict, config: RunnableConfig) -> dict:
        found, payload = reuse(state)
        if not found:
            payload = await model.aask(state, config) if model else rendered(state)
        return asked(payload, found)

    def wait(state: dict) -> dict:
        payload = (state.get(PAYLOADS_KEY) or {}).get(node.name, state.get(state_key))
        answer = received_answer(response_schema(node.options, payload), interrupt(payload))
        if not conversation:
            return {resume_key: answer}
        if isinstance(answer, list | dict):  # the chat client's own messages
            said = as_messages(answer)
            return {resume_key: last_human_text(said), conversation: said}
        text = "" if answer is None else str(answer)
        return {resume_key: text, conversation: [HumanMessage(content=text)]}

    wait.__name__ = node.name
    return RunnableCallable(prepare, aprepare, name=interrupt_entry(node.name)), wait


class InterruptItem:
    """An interrupt on one map item: asks its rendered `message`; the answer is the result."""

    def __init__(self, sub: NodeConfig):
        self.message = sub.get("message")

    def run(self, view: dict) -> Any:
        return interrupt(render(self.message, view))

    async def arun(self, view: dict) -> Any:
        return self.run(view)


class InterruptNode(NodeType):
    name = "interrupt"
    summary = "pauses for a person; the answer goes to `resume_key`"
    keys = (
        MODEL_KEYS
        | {"message", "prompt", "variables", "state_key", "resume_key", "idempotent"}
        | {"choices", "response"}
        | {"review", "answer_from"}  # ours: review questions and chat answers
    )
    in_map = True
    mermaid_shape = ("{{", "}}")
    colours = ("#fef3c7", "#d97706")
    #: Keys validated by other modules ("module:KEY_EXTENSION"), e.g. who is asked.
    extension_modules: tuple[str, ...] = ("yamlgraph.assignment:INTERRUPT_KEYS",)

    def check(self, ctx: NodeCheck) -> None:
        spec = ctx.spec
        if "review" in spec:
            self._check_review(ctx)
        elif "message" not in spec and "prompt" not in spec:
            ctx.add("an interrupt node needs 'message' (or 'prompt')")
        if "answer_from" in spec:
            self._check_answer_from(ctx)
        for subpath, problem in schema_problems(spec):
            ctx.add(problem, *subpath)
        ctx.templates(spec.get("message"), "message")
        if "prompt" in spec:
            ctx.prompt()
        state_key = spec.get("state_key", DEFAULT_INTERRUPT_STATE_KEY)
        if state_key == spec.get("resume_key", DEFAULT_RESUME_KEY):
            ctx.add(
                f"resume_key '{state_key}' is also the state_key: the answer would overwrite"
                " the question",
                "resume_key",
            )
        if ctx.in_map and "prompt" in spec:
            ctx.add(
                "an interrupt inside a map asks with 'message' (a template on the item);"
                " 'prompt' is not supported there",
                "prompt",
            )

    @staticmethod
    def _check_review(ctx: NodeCheck) -> None:
        """`review:` asks in LangChain's HITL shape; its answers are the decisions."""
        spec = ctx.spec
        for subpath, problem in review_problems(spec["review"]):
            ctx.add(problem, *subpath)
        for key in ("choices", "response", "prompt"):
            if key in spec:
                ctx.add(
                    f"a review question is answered by a decision (review.allowed); it takes"
                    f" no '{key}'",
                    key,
                )
        if isinstance(spec["review"], dict):
            ctx.templates(spec["review"].get("args"), "review", "args")
            ctx.templates(spec["review"].get("description"), "review", "description")
        if ctx.in_map:
            ctx.add("an interrupt inside a map cannot ask for a review", "review")

    @staticmethod
    def _check_answer_from(ctx: NodeCheck) -> None:
        """`answer_from: FIELD`: a chat message added to FIELD (a messages field) answers."""
        from yamlgraph.config import is_messages_field

        source = ctx.spec["answer_from"]
        if not is_messages_field(ctx.config, source):
            ctx.add(
                f"answer_from must name a state field declared {{type: messages}}, not '{source}'",
                "answer_from",
            )
        elif "review" in ctx.spec:
            ctx.add(
                "a review question is answered by a decision, not a chat message", "answer_from"
            )
        elif ctx.in_map:
            ctx.add("an interrupt inside a map cannot be answered from a chat", "answer_from")

    def written_keys(self, node: NodeConfig) -> list[str]:
        return [
            node.get("state_key", DEFAULT_INTERRUPT_STATE_KEY),
            node.get("resume_key", DEFAULT_RESUME_KEY),
        ]

    def build(self, builder: GraphBuilder, node: NodeConfig) -> Ends:
        prepare, wait = build_interrupt(builder.config, node)
        entry = interrupt_entry(node.name)
        builder.add_node(entry, prepare, counts_for=node.name)
        builder.add_node(node.name, wait)
        builder.add_edge(entry, node.name)
        return Ends(entry, node.name)

    def inner_names(self, node: NodeConfig) -> list[str]:
        return [interrupt_entry(node.name)]

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> InterruptItem:
        return InterruptItem(sub)

    def response_schema(self, node: NodeConfig, payload: Any) -> dict[str, Any] | None:
        return response_schema(node.options, payload)


NODE_TYPE = InterruptNode()
