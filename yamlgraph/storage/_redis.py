"""The ``redis`` checkpointer: RedisSaver / AsyncRedisSaver (needs RedisJSON + RediSearch)."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from ._config import (
    CheckpointerConfigError,
    CheckpointerUnavailable,
    check_options,
    mask_url,
    missing_package,
    optional_subclass,
    require_modules,
    required_string,
)
from ._loops import PerLoop, close_dead_stream
from ._owned import register_closer

PACKAGE = "langgraph-checkpoint-redis"
DEFAULT_TTL_MINUTES = 60
#: Seconds to open a connection and to wait for a reply: a hung server fails a call
#: within about that, and a dead one at once (redis-py's default retries ten times with
#: backoff, which kept a request waiting for most of a minute).
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 2.0
#: A broken connection (the server restarted) is retried once on a fresh one, so the
#: first call after an outage works; a timeout is not retried, since it would only
#: double the wait on a hung server.
RETRIES = 1
RETRY_BACKOFF_CAP = 0.2
#: A connection idle this many seconds is PINGed before use, so one left broken by a
#: server restart is replaced instead of failing the next call.
HEALTH_CHECK_INTERVAL = 5


def client_options(*, asyncio: bool = False) -> dict[str, Any]:
    """Timeouts, retry and health checks for every Redis client a saver uses."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry
    retry = Retry(
        ExponentialBackoff(cap=RETRY_BACKOFF_CAP, base=0.05),
        RETRIES,
        supported_errors=(RedisConnectionError, ConnectionResetError, BrokenPipeError),
    )
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": retry,
    }


def check_config(config: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(url, ttl config for the saver); ``ttl`` is minutes, 0 or null means no expiry."""
    check_options(config, ["url", "ttl"])
    url = required_string(config, "url")
    require_modules("redis", PACKAGE, "redis", "langgraph.checkpoint.redis", "redis")
    ttl = config.get("ttl", DEFAULT_TTL_MINUTES)
    if ttl is None or ttl is False:
        return url, None
    try:
        minutes = float(ttl) if not isinstance(ttl, bool) else None
    except (TypeError, ValueError):
        minutes = None
    if minutes is None or minutes < 0:
        raise CheckpointerConfigError(
            f"redis 'ttl' must be a number of minutes (0 or null for no expiry), got {ttl!r}"
        )
    if minutes == 0:
        return url, None
    return url, {"default_ttl": int(minutes) if minutes.is_integer() else minutes}


def _imports() -> Any:
    try:
        import langgraph.checkpoint.redis as module
    except ImportError as exc:
        raise missing_package("redis", PACKAGE, "redis") from exc
    return module


def _unavailable(url: str, exc: BaseException) -> CheckpointerUnavailable:
    return CheckpointerUnavailable(f"cannot reach Redis at {mask_url(url)}: {exc}")


def _sync_client(url: str) -> Any:
    from redis.exceptions import RedisError
    from redisvl.redis.connection import RedisConnectionFactory

    try:
        client = RedisConnectionFactory.get_redis_connection(url, **client_options())
    except ValueError as exc:  # not a redis:// / rediss:// / unix:// URL
        raise CheckpointerConfigError(f"invalid Redis url {mask_url(url)!r}: {exc}") from exc
    except (RedisError, OSError) as exc:
        raise _unavailable(url, exc) from exc
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        _close_sync_client(client)
        raise _unavailable(url, exc) from exc
    return client


def _setup(saver: Any, url: str) -> None:
    """Create the search indexes; a server without the modules gets a clear message."""
    from redis.exceptions import RedisError
    from redisvl.exceptions import RedisVLError

    try:
        saver.setup()
    except (RedisError, RedisVLError, OSError) as exc:
        if "unknown command" in str(exc).lower():
            raise CheckpointerUnavailable(
                f"Redis at {mask_url(url)} lacks the RedisJSON and RediSearch modules that "
                "langgraph-checkpoint-redis needs (use Redis 8, Redis Stack, or Valkey with "
                f"the modules loaded): {exc}"
            ) from exc
        raise _unavailable(url, exc) from exc


def _close_sync_client(client: Any) -> None:
    client.close()
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        pool.disconnect()


def _prepared_sync_saver(url: str, ttl: dict[str, Any] | None) -> tuple[Any, Any]:
    module = _imports()
    client = _sync_client(url)
    try:
        saver = module.RedisSaver(redis_client=client, ttl=ttl)
        _setup(saver, url)
    except BaseException:
        _close_sync_client(client)
        raise
    return saver, client


def sync_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """RedisSaver with its indexes created, on a client we own and close."""
    url, ttl = check_config(config)
    saver, client = _prepared_sync_saver(url, ttl)
    return register_closer(saver, close=lambda: _close_sync_client(client))


def async_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """AsyncRedisSaver that connects on first use inside a running loop.

    Reachability and the search indexes are checked now with a short-lived
    sync client, so a wrong URL fails here and not at the first interrupt.
    """
    url, ttl = check_config(config)
    _saver, client = _prepared_sync_saver(url, ttl)
    _close_sync_client(client)
    saver = _async_class()(url, ttl)
    conns = saver._yg_conns
    return register_closer(
        saver,
        close=lambda: conns.close(_aclose_async_client, _abandon_async_client),
        aclose=lambda: conns.aclose(_aclose_async_client, _abandon_async_client),
    )


def _new_async_client(url: str) -> Any:
    from redisvl.redis.connection import RedisConnectionFactory

    with warnings.catch_warnings():
        # "will become a coroutine in a future release": a notice, not a deprecation.
        warnings.simplefilter("ignore", DeprecationWarning)
        return RedisConnectionFactory.get_async_redis_connection(
            url, **client_options(asyncio=True)
        )


async def _aclose_async_client(client: Any) -> None:
    await client.aclose()
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        await pool.disconnect()


def _abandon_async_client(client: Any) -> None:
    """Release a client whose event loop has ended (its sockets cannot be closed normally)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        return
    connections = [
        *getattr(pool, "_available_connections", ()),
        *getattr(pool, "_in_use_connections", ()),
    ]
    for connection in connections:
        close_dead_stream(getattr(connection, "_writer", None))
        if hasattr(connection, "_writer"):
            connection._reader = connection._writer = None


def _build_async_class(base: type) -> type:
    class YamlgraphAsyncRedisSaver(base):  # type: ignore[valid-type, misc]
        """AsyncRedisSaver that sets itself up on first use in each event loop.

        Upstream requires ``await saver.asetup()`` before use and keeps one
        client bound to one loop; this one does both on demand, per loop.
        """

        def __init__(self, url: str, ttl: dict[str, Any] | None) -> None:
            # A client that connects lazily: nothing touches the network here.
            super().__init__(redis_client=_new_async_client(url), ttl=ttl)
            self._yg_url = url
            self._yg_conns: PerLoop[Any] = PerLoop("Redis async checkpointer")

        async def _yg_ready(self) -> None:
            await self._yg_conns.get(self._yg_open, _abandon_async_client)

        async def _yg_open(self) -> Any:
            from redis.exceptions import RedisError
            from redisvl.exceptions import RedisVLError

            client = _new_async_client(self._yg_url)
            self._redis = client
            try:
                await base.asetup(self)
            except (RedisError, RedisVLError, OSError) as exc:
                await _aclose_async_client(client)
                raise _unavailable(self._yg_url, exc) from exc
            return client

        async def _yg_release_loop_resources(self) -> None:
            await self._yg_conns.aclose(_aclose_async_client, _abandon_async_client)

        async def asetup(self) -> None:
            await self._yg_ready()

        async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
            await self._yg_ready()
            return await super().aget_tuple(config)

        async def alist(
            self,
            config: Any,
            *,
            filter: dict[str, Any] | None = None,
            before: Any = None,
            limit: int | None = None,
        ) -> AsyncIterator[CheckpointTuple]:
            await self._yg_ready()
            async for item in super().alist(config, filter=filter, before=before, limit=limit):
                yield item

        async def aput(self, *args: Any, **kwargs: Any) -> Any:
            await self._yg_ready()
            return await super().aput(*args, **kwargs)

        async def aput_writes(self, *args: Any, **kwargs: Any) -> None:
            await self._yg_ready()
            await super().aput_writes(*args, **kwargs)

        async def adelete_thread(self, thread_id: str) -> None:
            await self._yg_ready()
            await super().adelete_thread(thread_id)

        async def aprune(self, thread_ids: Sequence[str], **kwargs: Any) -> None:
            await self._yg_ready()
            await super().aprune(thread_ids, **kwargs)

        async def aget_channel_values(self, *args: Any, **kwargs: Any) -> Any:
            await self._yg_ready()
            return await super().aget_channel_values(*args, **kwargs)

    return YamlgraphAsyncRedisSaver


#: The AsyncRedisSaver subclass (built on first use: the package is optional).
_async_class = optional_subclass(
    "redis",
    PACKAGE,
    "langgraph.checkpoint.redis:AsyncRedisSaver",
    _build_async_class,
    extra="redis",
)
