"""Per-type behaviour on real storage: TTLs, delete_thread, and releasing connections."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver

from tests.yamlgraph.storage.interrupt_graph import build
from yamlgraph.storage import (
    adelete_thread,
    checkpointer,
    close_checkpointer,
    delete_thread,
    get_checkpointer,
)

START = {"topic": "checkpoints", "name": "", "greeting": ""}


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def pause_sync(saver: BaseCheckpointSaver, *threads: str) -> None:
    app = build().compile(checkpointer=saver)
    for thread in threads:
        assert "__interrupt__" in app.invoke(START, cfg(thread))


async def pause_async(saver: BaseCheckpointSaver, *threads: str) -> None:
    app = build().compile(checkpointer=saver)
    for thread in threads:
        assert "__interrupt__" in await app.ainvoke(START, cfg(thread))


def redis_keys(url: str, thread: str) -> dict[str, int]:
    """Every key holding data of `thread`, with its TTL in seconds (-1: none)."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {key: client.ttl(key) for key in client.scan_iter(f"*:{thread}:*")}
    finally:
        client.close()


# --- Redis TTL --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "low", "high"),
    [(2, 60, 120), (None, 3540, 3600), (0, -1, -1)],
    ids=["ttl-2-minutes", "default-60-minutes", "ttl-0-never"],
)
def test_redis_ttl_is_minutes_on_every_key(
    redis_url: str, mode: str, ttl: int | None, low: int, high: int
) -> None:
    block: dict[str, Any] = {"type": "redis", "url": redis_url}
    if ttl is not None:
        block["ttl"] = ttl
    thread = f"ttl-{uuid.uuid4()}"
    if mode == "sync":
        with checkpointer(block) as saver:
            pause_sync(saver, thread)
    else:

        async def run() -> None:
            async with checkpointer(block, async_mode=True) as saver:
                await pause_async(saver, thread)

        asyncio.run(run())
    keys = redis_keys(redis_url, thread)
    assert any(key.startswith("checkpoint:") for key in keys)
    assert any(key.startswith("checkpoint_write:") for key in keys)
    assert all(low <= seconds <= high for seconds in keys.values()), keys


# --- delete_thread ------------------------------------------------------------------


def stored_rows(config: dict[str, Any], thread: str) -> int | None:
    """How many rows/keys of `thread` the backing store holds (None: not inspectable)."""
    kind = config["type"]
    if kind == "sqlite":
        with sqlite3.connect(config["path"]) as conn:
            return sum(
                conn.execute(
                    f"SELECT count(*) FROM {table} WHERE thread_id = ?", (thread,)
                ).fetchone()[0]
                for table in ("checkpoints", "writes")
            )
    if kind in ("redis", "redis-simple"):
        return len(redis_keys(config["url"], thread))
    if kind == "postgres":
        import psycopg

        with psycopg.connect(config["url"]) as conn:
            return sum(
                conn.execute(
                    f"SELECT count(*) FROM {table} WHERE thread_id = %s", (thread,)
                ).fetchone()[0]
                for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs")
            )
    return None


def test_delete_thread_removes_only_that_thread(any_config: dict[str, Any], mode: str) -> None:
    gone, kept = f"gone-{uuid.uuid4()}", f"kept-{uuid.uuid4()}"

    if mode == "sync":
        with checkpointer(any_config) as saver:
            pause_sync(saver, gone, kept)
            kept_before = len(list(saver.list(cfg(kept))))
            delete_thread(saver, gone)
            assert saver.get_tuple(cfg(gone)) is None
            assert list(saver.list(cfg(gone))) == []
            assert len(list(saver.list(cfg(kept)))) == kept_before > 0
            app = build().compile(checkpointer=saver)
            assert app.get_state(cfg(kept)).next == ("ask",)
    else:

        async def run() -> None:
            async with checkpointer(any_config, async_mode=True) as saver:
                await pause_async(saver, gone, kept)
                kept_before = len([t async for t in saver.alist(cfg(kept))])
                await adelete_thread(saver, gone)
                assert await saver.aget_tuple(cfg(gone)) is None
                assert [t async for t in saver.alist(cfg(gone))] == []
                assert len([t async for t in saver.alist(cfg(kept))]) == kept_before > 0
                app = build().compile(checkpointer=saver)
                assert (await app.aget_state(cfg(kept))).next == ("ask",)

        asyncio.run(run())

    if any_config["type"] != "memory":
        assert stored_rows(any_config, gone) == 0
        assert stored_rows(any_config, kept)


def test_sync_delete_thread_on_an_async_saver(persistent_config: dict[str, Any]) -> None:
    """delete_thread() from sync code (an admin action) on a saver the async API uses."""
    gone, kept = f"gone-{uuid.uuid4()}", f"kept-{uuid.uuid4()}"
    saver = get_checkpointer(persistent_config, async_mode=True)
    try:
        asyncio.run(pause_async(saver, gone, kept))
        delete_thread(saver, gone)
        assert stored_rows(persistent_config, gone) == 0
        assert stored_rows(persistent_config, kept)
    finally:
        close_checkpointer(saver)


def test_sync_delete_thread_from_a_worker_thread_uses_the_running_loop(
    persistent_config: dict[str, Any],
) -> None:
    """While the saver's loop runs, a worker thread's delete_thread hops onto that loop."""
    thread = f"gone-{uuid.uuid4()}"

    async def run() -> None:
        async with checkpointer(persistent_config, async_mode=True) as saver:
            await pause_async(saver, thread)
            await asyncio.to_thread(delete_thread, saver, thread)
            assert await saver.aget_tuple(cfg(thread)) is None
            with pytest.raises(RuntimeError, match="adelete_thread"):
                delete_thread(saver, thread)  # would block this very loop

    asyncio.run(run())


# --- releasing connections ------------------------------------------------------------


@contextmanager
def no_loop_or_resource_warnings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail on ResourceWarnings and on exceptions swallowed in __del__ ("Event loop is closed")."""
    gc.collect()  # garbage of earlier tests is theirs, not ours
    unraisable: list[str] = []
    monkeypatch.setattr(
        sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    problems = [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning | RuntimeWarning)
        or "Event loop is closed" in str(w.message)
    ]
    assert problems == []
    assert unraisable == []


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def exercise(block: dict[str, Any], rounds: int = 3) -> list[BaseCheckpointSaver]:
    """Create, use and close savers every way an app does, `rounds` times each.

    Returns the closed savers: the caller keeps them alive while counting
    connections, so only close_checkpointer() (not garbage collection) can
    have released them.
    """
    closed: list[BaseCheckpointSaver] = []
    for _ in range(rounds):
        # sync
        saver = get_checkpointer(block)
        pause_sync(saver, f"leak-{uuid.uuid4()}")
        close_checkpointer(saver)
        close_checkpointer(saver)  # closing twice is harmless
        closed.append(saver)

        # async, created and closed inside the loop
        async def in_loop() -> BaseCheckpointSaver:
            async with checkpointer(block, async_mode=True) as saver:
                await pause_async(saver, f"leak-{uuid.uuid4()}")
            return saver

        closed.append(asyncio.run(in_loop()))

        # async, created in sync code, used by two successive loops, closed after both ended
        saver = get_checkpointer(block, async_mode=True)
        asyncio.run(pause_async(saver, f"leak-{uuid.uuid4()}"))
        asyncio.run(pause_async(saver, f"leak-{uuid.uuid4()}"))
        close_checkpointer(saver)
        closed.append(saver)
    return closed


def aiosqlite_threads() -> int:
    """Live aiosqlite worker threads (one per open aiosqlite connection)."""
    return sum("_connection_worker_thread" in t.name for t in threading.enumerate())


def tagged(config: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], int]]:
    """`config` with a connection name unique to this test, and a counter of its connections.

    Other tests (and other suites on the same server) may hold connections
    too; counting only ours keeps the baseline exact.
    """
    tag = f"yg-leak-{uuid.uuid4().hex[:12]}"
    kind = config["type"]
    if kind == "sqlite":
        return config, aiosqlite_threads
    url = config["url"]
    separator = "&" if "?" in url else "?"
    if kind in ("redis", "redis-simple"):
        import redis

        def count() -> int:
            client = redis.Redis.from_url(url)
            try:
                return sum(1 for c in client.client_list() if c.get("name") == tag)
            finally:
                client.close()

        return {**config, "url": f"{url}{separator}client_name={tag}"}, count
    import psycopg

    def count_pg() -> int:
        with psycopg.connect(url) as conn:
            return conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (tag,)
            ).fetchone()[0]

    return {**config, "url": f"{url}{separator}application_name={tag}"}, count_pg


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis-simple", marks=pytest.mark.redis),
    ],
)
def test_server_connections_are_all_released(
    kind: str, request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.yamlgraph.storage.conftest import config_for

    block, connections = tagged(config_for(kind, request, tmp_path))
    with no_loop_or_resource_warnings(monkeypatch):
        with checkpointer(block) as saver:
            pause_sync(saver, f"leak-{uuid.uuid4()}")
            assert connections() > 0  # the measure sees our connections
        savers = exercise(block)
        assert eventually(lambda: connections() == 0), connections()
        del savers


def test_sqlite_threads_and_files_are_released(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = {"type": "sqlite", "path": str(tmp_path / "s.db")}
    baseline = aiosqlite_threads()
    with no_loop_or_resource_warnings(monkeypatch):
        savers = exercise(block)
        assert eventually(lambda: aiosqlite_threads() == baseline)
        for saver in savers:
            conn = saver.conn
            if isinstance(conn, sqlite3.Connection):
                with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                    conn.execute("SELECT 1")
            else:  # aiosqlite
                assert conn._connection is None
        del savers


def test_close_checkpointer_from_inside_the_loop_finishes_in_background(
    persistent_config: dict[str, Any],
) -> None:
    """A sync close inside async code must not block the loop, and must still close."""
    persistent_config, open_connections = tagged(persistent_config)
    baseline = open_connections()

    async def run() -> BaseCheckpointSaver:
        saver = get_checkpointer(persistent_config, async_mode=True)
        await pause_async(saver, f"bg-{uuid.uuid4()}")
        assert open_connections() > baseline
        close_checkpointer(saver)
        await asyncio.sleep(0.2)
        return saver

    saver = asyncio.run(run())  # kept alive: only the close may release its connections
    assert eventually(lambda: open_connections() == baseline)
    del saver


# --- outages and loops ----------------------------------------------------------------


def test_async_redis_outage_is_unavailable_then_recovers() -> None:
    """The first use after the server went away fails clearly; a later use reconnects."""
    from tests.servers import ValkeyServer
    from yamlgraph.storage import CheckpointerUnavailable

    server = ValkeyServer().start()
    port = server.port
    saver = get_checkpointer({"type": "redis", "url": server.url}, async_mode=True)
    try:
        server.stop()
        with pytest.raises(
            CheckpointerUnavailable, match=f"cannot reach Redis at redis://127.0.0.1:{port}"
        ):
            asyncio.run(pause_async(saver, f"outage-{uuid.uuid4()}"))
        server = ValkeyServer(port=port).start()
        asyncio.run(pause_async(saver, f"outage-{uuid.uuid4()}"))
    finally:
        close_checkpointer(saver)
        server.stop()


def test_one_async_saver_cannot_serve_two_running_loops_at_once(redis_url: str) -> None:
    saver = get_checkpointer({"type": "redis", "url": redis_url}, async_mode=True)
    other_loop_started = threading.Event()
    release = threading.Event()

    async def hold_the_saver() -> None:
        await pause_async(saver, f"loop-a-{uuid.uuid4()}")
        other_loop_started.set()
        await asyncio.to_thread(release.wait, 10)

    worker = threading.Thread(target=asyncio.run, args=(hold_the_saver(),))
    worker.start()
    try:
        assert other_loop_started.wait(10)
        with pytest.raises(RuntimeError, match="in use by another running event loop"):
            asyncio.run(pause_async(saver, f"loop-b-{uuid.uuid4()}"))
    finally:
        release.set()
        worker.join(10)
        close_checkpointer(saver)
