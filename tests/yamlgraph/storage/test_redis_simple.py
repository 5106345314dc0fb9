"""`type: redis-simple` on a Valkey started WITHOUT modules (plain Redis).

The options are yamlgraph's (`url`, `ttl` minutes, `prefix`, `max_connections`); unlike
yamlgraph's own saver, history, listing and pending writes are all kept (the conformance
suite runs in test_conformance.py).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import pytest

from tests.servers import free_port
from tests.yamlgraph.storage.interrupt_graph import build
from yamlgraph.storage import (
    CheckpointerConfigError,
    CheckpointerUnavailable,
    MissingPackage,
    checkpointer,
    get_checkpointer,
    validate_checkpointer,
)

START = {"topic": "checkpoints", "name": "", "greeting": ""}


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def keys_with_ttl(url: str, pattern: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {key: client.ttl(key) for key in client.scan_iter(pattern)}
    finally:
        client.close()


@pytest.mark.parametrize(
    ("ttl", "low", "high"),
    [(2, 60, 120), (None, 3540, 3600), (0, -1, -1)],
    ids=["ttl-2-minutes", "default-60-minutes", "ttl-0-never"],
)
def test_ttl_is_minutes_on_every_thread_key(
    plain_redis_url: str, mode: str, ttl: int | None, low: int, high: int
) -> None:
    block: dict[str, Any] = {"type": "redis-simple", "url": plain_redis_url}
    if ttl is not None:
        block["ttl"] = ttl
    thread = f"ttl-{uuid.uuid4()}"
    app = build()
    if mode == "sync":
        with checkpointer(block) as saver:
            assert "__interrupt__" in app.compile(checkpointer=saver).invoke(START, cfg(thread))
    else:

        async def run() -> None:
            async with checkpointer(block, async_mode=True) as saver:
                compiled = app.compile(checkpointer=saver)
                assert "__interrupt__" in await compiled.ainvoke(START, cfg(thread))

        asyncio.run(run())
    keys = keys_with_ttl(plain_redis_url, f"*:{thread}:*")
    assert any(":cp:" in key for key in keys) and any(":blob:" in key for key in keys), keys
    assert all(low <= seconds <= high for seconds in keys.values()), keys


def test_history_list_and_pending_writes_are_kept(plain_redis_url: str) -> None:
    """What yamlgraph's redis-simple lacks: every checkpoint, listed, with the interrupt."""
    block = {"type": "redis-simple", "url": plain_redis_url, "prefix": f"p{uuid.uuid4().hex[:6]}"}
    thread = f"hist-{uuid.uuid4()}"
    with checkpointer(block) as saver:
        app = build().compile(checkpointer=saver)
        app.invoke(START, cfg(thread))
        history = list(app.get_state_history(cfg(thread)))
        listed = list(saver.list(cfg(thread)))
        latest = saver.get_tuple(cfg(thread))
    assert len(history) >= 2
    assert len(listed) == len(history)
    assert [t.config["configurable"]["checkpoint_id"] for t in listed] == [
        s.config["configurable"]["checkpoint_id"] for s in history
    ]
    assert latest is not None
    assert any(channel == "__interrupt__" for _task, channel, _value in latest.pending_writes)
    # The prefix is the key namespace.
    keys = keys_with_ttl(plain_redis_url, f"*:{thread}:*")
    assert keys and all(key.startswith(block["prefix"] + ":") for key in keys), keys


def test_a_session_resumes_from_another_saver(plain_redis_url: str, mode: str) -> None:
    """A second process (a fresh saver) resumes what the first one paused."""
    from langgraph.types import Command

    block = {"type": "redis-simple", "url": plain_redis_url}
    thread = f"resume-{uuid.uuid4()}"
    with checkpointer(block) as first:
        build().compile(checkpointer=first).invoke(START, cfg(thread))
    if mode == "sync":
        with checkpointer(block) as second:
            result = build().compile(checkpointer=second).invoke(Command(resume="Ada"), cfg(thread))
    else:

        async def run() -> dict[str, Any]:
            async with checkpointer(block, async_mode=True) as second:
                app = build().compile(checkpointer=second)
                return await app.ainvoke(Command(resume="Ada"), cfg(thread))

        result = asyncio.run(run())
    assert result["name"] == "Ada"
    assert "Ada" in result["greeting"]


def test_an_async_saver_serves_successive_event_loops(plain_redis_url: str) -> None:
    """Django runs each async_to_sync call on a fresh loop; one saver serves them all."""
    saver = get_checkpointer({"type": "redis-simple", "url": plain_redis_url}, async_mode=True)
    threads = [f"loops-{uuid.uuid4()}" for _ in range(3)]
    for thread in threads:

        async def pause(thread: str = thread) -> None:
            app = build().compile(checkpointer=saver)
            assert "__interrupt__" in await app.ainvoke(START, cfg(thread))

        asyncio.run(pause())

    async def read() -> list[Any]:
        return [await saver.aget_tuple(cfg(thread)) for thread in threads]

    assert all(item is not None for item in asyncio.run(read()))


def test_key_prefix_is_an_alias_of_prefix(plain_redis_url: str) -> None:
    """yamlgraph's own graphs write `key_prefix: "name:"` (the name its factory reads)."""
    thread = f"alias-{uuid.uuid4()}"
    block = {"type": "redis-simple", "url": plain_redis_url, "key_prefix": "fr006-child:"}
    with checkpointer(block) as saver:
        build().compile(checkpointer=saver).invoke(START, cfg(thread))
    keys = keys_with_ttl(plain_redis_url, f"*:{thread}:*")
    assert keys and all(key.startswith("fr006-child:") for key in keys), keys


def test_max_connections_sizes_the_pool(plain_redis_url: str) -> None:
    with checkpointer(
        {"type": "redis-simple", "url": plain_redis_url, "max_connections": 3}
    ) as saver:
        assert saver.client.connection_pool.max_connections == 3


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "needs 'url'"),
        ({"url": "redis://x", "tll": 5}, "unknown option(s) 'tll'"),
        ({"url": "redis://x", "ttl": "soon"}, "'ttl' must be a number of minutes"),
        ({"url": "redis://x", "ttl": -1}, "'ttl' must be a number of minutes"),
        ({"url": "redis://x", "prefix": ""}, "'prefix' must be a non-empty string"),
        ({"url": "redis://x", "prefix": "a", "key_prefix": "b"}, "not both"),
        ({"url": "redis://x", "max_connections": 0}, "'max_connections' must be a positive"),
        ({"url": "redis://x", "max_connections": "10"}, "'max_connections' must be a positive"),
    ],
)
def test_bad_options_are_named_before_connecting(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(CheckpointerConfigError) as info:
        validate_checkpointer({"type": "redis-simple", **options}, source="graphs/g.yaml")
    assert expected in str(info.value)
    assert "graphs/g.yaml" in str(info.value)


@pytest.mark.parametrize("async_mode", [False, True])
def test_unreachable_server_is_unavailable_with_masked_url(async_mode: bool) -> None:
    port = free_port()
    with pytest.raises(CheckpointerUnavailable) as info:
        get_checkpointer(
            {"type": "redis-simple", "url": f"redis://app:hunter2@127.0.0.1:{port}/0"},
            async_mode=async_mode,
        )
    assert f"redis://app:***@127.0.0.1:{port}/0" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_without_the_package_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langgraph_checkpoint_plainredis", None)
    with pytest.raises(MissingPackage) as info:
        validate_checkpointer({"type": "redis-simple", "url": "redis://x"}, source="g.yaml")
    assert 'pip install "yamlgraph-django[redis]"' in str(info.value)
    assert "langgraph-checkpoint-plainredis" in str(info.value)
    assert info.value.extra == "redis"


def test_a_graph_file_with_a_redis_simple_block_validates(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block as yamlgraph's example graphs write it (`key_prefix`, `${REDIS_URL}`)."""
    from yamlgraph.graph_loader import load_graph_config

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    graph = tmp_path / "child.yaml"
    graph.write_text(
        "name: child\n"
        "checkpointer:\n"
        "  type: redis-simple\n"
        '  url: "${REDIS_URL}"\n'
        '  key_prefix: "child:"\n'
        "nodes:\n"
        "  ask: {type: interrupt, message: Answer?, resume_key: answer}\n"
        "edges:\n"
        "  - {from: START, to: ask}\n"
        "  - {from: ask, to: END}\n"
    )
    config = load_graph_config(graph)
    assert config.checkpointer == {
        "type": "redis-simple",
        "url": "${REDIS_URL}",
        "key_prefix": "child:",
    }
