"""`checkpointer: {type: django}` in graph files: the factory, and sessions across processes."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from yamlgraph.storage import CheckpointerConfigError, checkpointer_types, get_checkpointer
from yamlgraph_django.checkpointer import DjangoSaver, register

GRAPH = """\
version: "1.0"
name: handoff
description: One question, answered in another process.
state:
  topic: str
  answer: str
  reply: str
checkpointer:
  type: django
  database: "${YAMLGRAPH_CHECKPOINT_DB:-default}"
nodes:
  ask:
    type: interrupt
    message: "Who is asking about {state.topic}?"
    resume_key: answer
  reply:
    type: passthrough
    output:
      reply: "Hello {state.answer}, here is what we know about {state.topic}."
edges:
  - {from: START, to: ask}
  - {from: ask, to: reply}
  - {from: reply, to: END}
"""


def test_the_app_registers_type_django() -> None:
    assert "django" in checkpointer_types()
    register()  # again: replaces itself, no error
    assert "django" in checkpointer_types()


@pytest.mark.parametrize("async_mode", [False, True])
def test_type_django_uses_the_database_alias(async_mode: bool) -> None:
    saver = get_checkpointer({"type": "django"}, async_mode=async_mode)
    assert isinstance(saver, DjangoSaver)
    assert saver.using == "default"
    assert get_checkpointer({"type": "django", "database": "default"}).using == "default"


def test_an_unknown_database_alias_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(CheckpointerConfigError) as caught:
        get_checkpointer({"type": "django", "database": "archive"}, source=tmp_path / "g.yaml")
    message = str(caught.value)
    assert "'archive'" in message and "default" in message and "g.yaml" in message


def test_an_unknown_option_is_refused() -> None:
    with pytest.raises(CheckpointerConfigError, match="'url'"):
        get_checkpointer({"type": "django", "url": "postgres://elsewhere"})


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("start", "resume"),
    [pytest.param([], [], id="sync-sync"), pytest.param([], ["--async"], id="sync-async")],
)
def test_interrupt_in_one_process_resume_in_another(
    run_in_process: Callable[..., dict[str, Any]],
    tmp_path: Path,
    start: list[str],
    resume: list[str],
) -> None:
    graph = tmp_path / "handoff.yaml"
    graph.write_text(textwrap.dedent(GRAPH), encoding="utf-8")
    thread = f"handoff-{uuid.uuid4()}"

    paused = run_in_process(str(graph), thread, "start", *start)
    assert paused["interrupt"] == ["Who is asking about checkpoints?"]
    assert paused["saver"] == "<DjangoSaver using='default'>"

    finished = run_in_process(str(graph), thread, "resume", "Ada", *resume)
    assert finished["state"]["reply"] == "Hello Ada, here is what we know about checkpoints."
    assert finished["state"]["answer"] == "Ada"
