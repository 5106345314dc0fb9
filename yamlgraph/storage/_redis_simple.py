"""The ``redis-simple`` checkpointer: LangGraph savers on a Redis without modules.

yamlgraph documents ``type: redis-simple`` (``url``, ``ttl`` minutes, ``prefix``,
``max_connections``) for the Redis most teams run (Upstash, ElastiCache, Fly.io, Valkey)
where RedisJSON and RediSearch cannot be loaded. The savers are
langgraph-checkpoint-plainredis's (strings, hashes and sorted sets only); unlike
yamlgraph's own, they keep the full checkpoint history, list it and store pending
writes, and pass LangGraph's conformance suite. Here they get the same client options
as the ``redis`` type (timeouts, one retry, health checks) and an async client per
event loop (Django runs each ``async_to_sync`` call on a fresh loop).
"""

from __future__ import annotations

import threading
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

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
from ._loops import running_loop
from ._owned import register_closer
from ._redis import DEFAULT_TTL_MINUTES, client_options

PACKAGE = "langgraph-checkpoint-plainredis"
EXTRA = "redis"
DEFAULT_PREFIX = "yamlgraph"
DEFAULT_MAX_CONNECTIONS = 10


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """The saver's options from the block: url, ttl (seconds or None), prefix, pool size.

    ``ttl`` is minutes as yamlgraph documents it (default 60; 0 or null: no expiry),
    ``prefix`` (or ``key_prefix``, the name yamlgraph's code reads) a non-empty key
    prefix (default ``yamlgraph``), ``max_connections`` a
    positive pool size (default 10). Connects nowhere.
    """
    check_options(config, ["url", "ttl", "prefix", "key_prefix", "max_connections"])
    url = required_string(config, "url")
    require_modules("redis-simple", PACKAGE, EXTRA, "langgraph_checkpoint_plainredis", "redis")
    ttl = config.get("ttl", DEFAULT_TTL_MINUTES)
    seconds: int | None
    if ttl is None or ttl is False or ttl == 0:
        seconds = None
    elif isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl > 0:
        seconds = max(1, round(float(ttl) * 60))
    else:
        raise CheckpointerConfigError(
            f"redis-simple 'ttl' must be a number of minutes (0 or null for no expiry), got {ttl!r}"
        )
    if "prefix" in config and "key_prefix" in config:
        raise CheckpointerConfigError(
            "redis-simple takes 'prefix' or its alias 'key_prefix', not both"
        )
    # `key_prefix` is the name yamlgraph's own factory reads (its docs say `prefix`).
    prefix = config.get("prefix", config.get("key_prefix", DEFAULT_PREFIX))
    if not isinstance(prefix, str) or not prefix.strip(":").strip():
        raise CheckpointerConfigError(
            f"redis-simple 'prefix' must be a non-empty string, got {prefix!r}"
        )
    pool = config.get("max_connections", DEFAULT_MAX_CONNECTIONS)
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
        raise CheckpointerConfigError(
            f"redis-simple 'max_connections' must be a positive whole number, got {pool!r}"
        )
    return {"url": url, "ttl": seconds, "prefix": prefix, "max_connections": pool}


def _imports() -> Any:
    try:
        import langgraph_checkpoint_plainredis as module
    except ImportError as exc:
        raise missing_package("redis-simple", PACKAGE, EXTRA) from exc
    return module


def _unavailable(url: str, exc: BaseException) -> CheckpointerUnavailable:
    return CheckpointerUnavailable(f"cannot reach Redis at {mask_url(url)}: {exc}")


def _sync_client(url: str, max_connections: int) -> Any:
    """A pinged blocking client; a bad URL is a config error, a dead server an outage."""
    import redis
    from redis.exceptions import RedisError

    try:
        client = redis.Redis.from_url(
            url, protocol=2, max_connections=max_connections, **client_options()
        )
    except ValueError as exc:  # not a redis:// / rediss:// / unix:// URL
        raise CheckpointerConfigError(f"invalid Redis url {mask_url(url)!r}: {exc}") from exc
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        _close_sync_client(client)
        raise _unavailable(url, exc) from exc
    return client


def _close_sync_client(client: Any) -> None:
    client.close()
    client.connection_pool.disconnect()


def sync_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """langgraph-checkpoint-plainredis's RedisSaver on a pinged client we own and close."""
    options = check_config(config)
    module = _imports()
    client = _sync_client(options["url"], options["max_connections"])
    saver = module.RedisSaver(client, ttl=options["ttl"], prefix=options["prefix"])
    return register_closer(saver, close=lambda: _close_sync_client(client))


def async_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """The async saver, with a client per event loop made on first use in that loop.

    Reachability is checked now with a short-lived sync client, so a wrong URL fails
    here and not at the first interrupt.
    """
    options = check_config(config)
    _imports()
    _close_sync_client(_sync_client(options["url"], options["max_connections"]))
    clients = _LoopClients(options["url"], options["max_connections"])
    saver = _async_class()(clients, ttl=options["ttl"], prefix=options["prefix"])
    return register_closer(saver, close=clients.close, aclose=clients.aclose)


class _LoopClients:
    """One ``redis.asyncio`` client for the event loop using the saver right now.

    A client's connections only work on the loop that opened them. A later loop gets a
    fresh client once the previous loop has stopped (the old sockets are shut down);
    two loops running at once cannot share the saver. Holds no reference to the saver,
    so the close registry does not keep it alive.
    """

    def __init__(self, url: str, max_connections: int) -> None:
        self.url = url
        self.max_connections = max_connections
        self._loop: Any = None
        self._client: Any = None
        self._mutex = threading.Lock()

    @property
    def loop(self) -> Any:
        """The event loop the open client belongs to (None before first use)."""
        return self._loop

    def current(self) -> Any:
        """The client of the running loop (made now if this loop has none)."""
        loop = running_loop()
        with self._mutex:
            if self._client is not None and self._loop is loop:
                return self._client
            if self._client is not None and self._loop is not None and self._loop.is_running():
                raise RuntimeError(
                    "this redis-simple checkpointer is in use by another running event loop; "
                    "an async checkpointer serves one event loop at a time (create one per loop)"
                )
            self._abandon()
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.url,
                protocol=2,
                max_connections=self.max_connections,
                **client_options(asyncio=True),
            )
            self._loop = loop
            return self._client

    def _abandon(self) -> None:
        from ._redis import _abandon_async_client

        client, self._client, self._loop = self._client, None, None
        if client is not None:
            _abandon_async_client(client)

    async def aclose(self) -> None:
        """Close the client from async code: on its loop if that is this one."""
        with self._mutex:
            client, loop = self._client, self._loop
            if client is None:
                return
            if loop is not running_loop():
                self._abandon()
                return
            self._client = self._loop = None
        from ._redis import _aclose_async_client

        await _aclose_async_client(client)

    def close(self) -> None:
        """Close from sync code: shut the client's sockets (its loop may be gone)."""
        with self._mutex:
            self._abandon()


def _build_async_class(base: type) -> type:
    class YamlgraphSimpleRedisSaver(base):  # type: ignore[valid-type, misc]
        """langgraph-checkpoint-plainredis's AsyncRedisSaver with a client per event loop."""

        def __init__(self, clients: _LoopClients, *, ttl: int | None, prefix: str) -> None:
            self._yg_clients = clients
            super().__init__(client=object(), ttl=ttl, prefix=prefix)

        @property
        def client(self) -> Any:
            return self._yg_clients.current()

        @client.setter
        def client(self, value: Any) -> None:
            """Ignored: the client is chosen per event loop (see the getter)."""

        @property
        def loop(self) -> Any:
            """The event loop whose client is open (delete_thread() hops onto it)."""
            return self._yg_clients.loop

        async def _yg_release_loop_resources(self) -> None:
            await self._yg_clients.aclose()

        async def aclose(self) -> None:
            await self._yg_clients.aclose()

    return YamlgraphSimpleRedisSaver


#: The AsyncRedisSaver subclass (built on first use: the package is optional).
_async_class = optional_subclass(
    "redis-simple",
    PACKAGE,
    "langgraph_checkpoint_plainredis:AsyncRedisSaver",
    _build_async_class,
    extra=EXTRA,
)
