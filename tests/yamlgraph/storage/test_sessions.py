"""Sessions survive the process: interrupt in one, resume in another (real storage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command

from tests.yamlgraph.storage.interrupt_graph import build
from yamlgraph.storage import aclose_checkpointer, checkpointer, get_checkpointer

REPO = Path(__file__).resolve().parents[3]
QUESTION = {"question": "Who is asking about checkpoints?"}
FINAL = {
    "topic": "checkpoints",
    "name": "Ada",
    "greeting": "Hello Ada, let's talk about checkpoints.",
}


def run_graph_process(config: dict[str, Any], *args: str) -> dict[str, Any]:
    """Run tests/yamlgraph/storage/interrupt_graph.py in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.yamlgraph.storage.interrupt_graph",
            json.dumps(config),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"graph process failed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_interrupt_in_one_process_resume_in_another(persistent_config: dict[str, Any]) -> None:
    """Sync and async sessions each pause in one process and finish in the next.

    (Both modes share the two processes only to halve the interpreter start-ups.)
    """
    sessions = [f"{mode}:session-{uuid.uuid4()}" for mode in ("sync", "async")]

    paused = run_graph_process(persistent_config, "start", *sessions)
    assert paused == {session: {"interrupt": [QUESTION]} for session in sessions}

    finished = run_graph_process(persistent_config, "resume", *sessions, "--answer", "Ada")
    assert finished == {session: {"state": FINAL} for session in sessions}


async def test_session_started_sync_resumes_async(persistent_config: dict[str, Any]) -> None:
    """A session paused by a sync caller (a Django view) resumes from async code (ASGI)."""
    thread = {"configurable": {"thread_id": f"session-{uuid.uuid4()}"}}
    with checkpointer(persistent_config) as saver:
        paused = (
            build()
            .compile(checkpointer=saver)
            .invoke({"topic": "checkpoints", "name": "", "greeting": ""}, thread)
        )
    assert [i.value for i in paused["__interrupt__"]] == [QUESTION]

    async with checkpointer(persistent_config, async_mode=True) as saver:
        app = build().compile(checkpointer=saver)
        assert await app.ainvoke(Command(resume="Ada"), thread) == FINAL


def test_memory_sessions_resume_in_the_same_process(mode: str) -> None:
    """memory keeps sessions for the life of the saver (and only that)."""
    import asyncio

    thread = {"configurable": {"thread_id": "t"}}
    saver = get_checkpointer("memory", async_mode=mode == "async")
    app = build().compile(checkpointer=saver)
    start = {"topic": "checkpoints", "name": "", "greeting": ""}
    if mode == "sync":
        assert "__interrupt__" in app.invoke(start, thread)
        assert app.invoke(Command(resume="Ada"), thread) == FINAL
    else:

        async def run() -> dict[str, Any]:
            await app.ainvoke(start, thread)
            return await app.ainvoke(Command(resume="Ada"), thread)

        assert asyncio.run(run()) == FINAL
    fresh = build().compile(checkpointer=get_checkpointer("memory"))
    assert fresh.get_state(thread).values == {}


def test_seed_direct_factory_usage_runs_as_written(redis_url: str) -> None:
    """SEED-checkpointers.md "Direct Factory Usage", against a real Redis."""
    import asyncio

    checkpointer_ = get_checkpointer(
        {
            "type": "redis",
            "url": redis_url,
            "ttl": 120,
        }
    )
    async_checkpointer = get_checkpointer(
        {"type": "redis", "url": redis_url},
        async_mode=True,
    )
    thread = {"configurable": {"thread_id": f"seed-{uuid.uuid4()}"}}
    start = {"topic": "checkpoints", "name": "", "greeting": ""}
    build().compile(checkpointer=checkpointer_).invoke(start, thread)

    async def resume() -> dict[str, Any]:
        try:
            app = build().compile(checkpointer=async_checkpointer)
            return await app.ainvoke(Command(resume="Ada"), thread)
        finally:
            await aclose_checkpointer(async_checkpointer)

    assert asyncio.run(resume()) == FINAL
    from yamlgraph.storage import close_checkpointer

    close_checkpointer(checkpointer_)


@pytest.mark.parametrize(
    "kind",
    [
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
)
def test_sync_created_async_saver_serves_successive_event_loops(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Django's async_to_sync runs each call on a new loop; one saver serves them all."""
    import asyncio

    from tests.yamlgraph.storage.conftest import config_for
    from yamlgraph.storage import close_checkpointer

    saver = get_checkpointer(config_for(kind, request, tmp_path), async_mode=True)
    app = build().compile(checkpointer=saver)
    thread = {"configurable": {"thread_id": f"loops-{uuid.uuid4()}"}}
    try:
        asyncio.run(app.ainvoke({"topic": "checkpoints", "name": "", "greeting": ""}, thread))
        assert asyncio.run(app.ainvoke(Command(resume="Ada"), thread)) == FINAL
        assert asyncio.run(app.aget_state(thread)).values == FINAL
    finally:
        close_checkpointer(saver)
