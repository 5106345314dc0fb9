"""The interview graph written in raw LangGraph: the twin of graphs/interview.yaml.

This module imports only LangGraph and LangChain core, so the peers' scratch
environments (the LangGraph dev server, Aegra) can load it as `interview.py:graph`
beside the floors and `bench.engine`: every system runs the same graph.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class InterviewState(TypedDict, total=False):
    name: str
    goal: str
    summary: str
    name_question: str
    goal_question: str


class EchoChatModel(BaseChatModel):
    """An offline model answering with the last human message (yamlgraph's `fake` does too)."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        text = next((m.content for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def build(model: BaseChatModel | None = None) -> StateGraph:
    """The uncompiled graph: ask a name, ask a goal (two interrupts), summarize with `model`."""
    llm = model or EchoChatModel()

    def ask_name(state: InterviewState) -> dict:
        question = "Hi! What is your name?"
        return {"name_question": question, "name": interrupt(question)}

    def ask_goal(state: InterviewState) -> dict:
        question = f"Thanks {state['name']}. What do you want to achieve with your project?"
        return {"goal_question": question, "goal": interrupt(question)}

    def summarize(state: InterviewState) -> dict:
        messages = [
            SystemMessage("You write one-sentence summaries of intake interviews."),
            HumanMessage(f"Summary: {state['name']} wants to {state['goal']}."),
        ]
        return {"summary": llm.invoke(messages).content}

    graph = StateGraph(InterviewState)
    graph.add_node("ask_name", ask_name)
    graph.add_node("ask_goal", ask_goal)
    graph.add_node("summarize", summarize)
    graph.add_edge(START, "ask_name")
    graph.add_edge("ask_name", "ask_goal")
    graph.add_edge("ask_goal", "summarize")
    graph.add_edge("summarize", END)
    return graph


#: What a LangGraph server loads (`interview.py:graph`); the server brings the checkpointer.
graph = build().compile()
