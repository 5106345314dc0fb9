"""A checkpoint store that goes away and comes back, through a real TCP proxy.

For each networked store (Redis, Postgres), a saver is built through the proxy; the proxy
is stopped (connection refused, open connections cut) or hung (nothing answers). Every
saver call must then fail within OUTAGE_BOUND seconds with an error `is_store_outage`
recognises, and once the proxy is back the *same* saver must work again: its pool or
client replaces the broken connections by itself.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint

from tests.yamlgraph.storage.tcp_proxy import TcpProxy
from yamlgraph.storage import close_checkpointer, get_checkpointer, is_store_outage

#: What the issue asks: a dead store answers within 5 s, not after a 30 s pool timeout.
OUTAGE_BOUND = 5.0
#: Time the pool or client may take to notice the server is back.
RECOVERY_BOUND = 15.0


def through(proxy: TcpProxy, url: str) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def target_of(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@pytest.fixture(params=["redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, TcpProxy, str]]:
    """(type, proxy, url through the proxy) for a real running server."""
    kind = request.param
    url = request.getfixturevalue("redis_url" if kind == "redis" else "postgres_url")
    proxy = TcpProxy(*target_of(url, 6379 if kind == "redis" else 5432)).start()
    try:
        yield kind, proxy, through(proxy, url)
    finally:
        proxy.stop()


def thread_config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


def save_checkpoint(saver: BaseCheckpointSaver, thread: str) -> None:
    saver.put(thread_config(thread), empty_checkpoint(), {"source": "input", "step": -1}, {})


def fails_fast(call: Callable[[], Any]) -> BaseException:
    """Run `call`, which must raise within OUTAGE_BOUND; return what it raised."""
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        call()
    elapsed = time.monotonic() - started
    assert elapsed < OUTAGE_BOUND, f"took {elapsed:.1f}s to fail: {caught.value!r}"
    assert is_store_outage(caught.value), f"not recognised as an outage: {caught.value!r}"
    return caught.value


def recovers(call: Callable[[], Any]) -> Any:
    """`call`'s result once it succeeds again, retrying for at most RECOVERY_BOUND."""
    deadline = time.monotonic() + RECOVERY_BOUND
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_store_outage(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def saver_calls(saver: BaseCheckpointSaver, thread: str) -> dict[str, Callable[[], Any]]:
    """The saver calls a session makes: read the state, list the history, delete."""
    config = thread_config(thread)
    return {
        "get_tuple": lambda: saver.get_tuple(config),
        "list": lambda: list(saver.list(config, limit=5)),
        "delete_thread": lambda: saver.delete_thread(f"{thread}-other"),
    }


@pytest.mark.parametrize("outage", ["stopped", "hung"])
def test_a_sync_saver_fails_fast_while_the_store_is_down_and_recovers(store, outage):
    kind, proxy, url = store
    # A hung Postgres too: libpq has no read timeout, so the sync saver cuts a connection
    # whose liveness check or statement has not answered in time (storage._postgres).
    saver = get_checkpointer({"type": kind, "url": url})
    thread = f"outage-{uuid.uuid4()}"
    try:
        save_checkpoint(saver, thread)
        assert saver.get_tuple(thread_config(thread)) is not None

        proxy.stop() if outage == "stopped" else proxy.hang()
        for name, call in saver_calls(saver, thread).items():
            error = fails_fast(call)
            assert error is not None, name

        proxy.start()
        restored = recovers(lambda: saver.get_tuple(thread_config(thread)))
        assert restored is not None and restored.config["configurable"]["thread_id"] == thread
        assert len(recovers(saver_calls(saver, thread)["list"])) == 1
        save_checkpoint(saver, f"{thread}-after")  # writes work again too
    finally:
        close_checkpointer(saver)


def test_an_async_saver_fails_fast_while_the_store_is_down_and_recovers(store):
    kind, proxy, url = store
    saver = get_checkpointer({"type": kind, "url": url}, async_mode=True)
    thread = f"outage-async-{uuid.uuid4()}"
    config = thread_config(thread)

    async def scenario() -> None:
        await saver.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})
        assert await saver.aget_tuple(config) is not None
        proxy.stop()
        for call in (
            lambda: saver.aget_tuple(config),
            lambda: _alist(saver, config),
            lambda: saver.adelete_thread(f"{thread}-other"),
        ):
            started = time.monotonic()
            with pytest.raises(Exception) as caught:
                await call()
            assert time.monotonic() - started < OUTAGE_BOUND, repr(caught.value)
            assert is_store_outage(caught.value), repr(caught.value)
        proxy.start()
        deadline = time.monotonic() + RECOVERY_BOUND
        while True:
            try:
                assert await saver.aget_tuple(config) is not None
                assert len(await _alist(saver, config)) == 1
                return
            except Exception as exc:
                if not is_store_outage(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    try:
        asyncio.run(scenario())
    finally:
        close_checkpointer(saver)


async def _alist(saver: BaseCheckpointSaver, config: dict[str, Any]) -> list[Any]:
    return [item async for item in saver.alist(config, limit=5)]
