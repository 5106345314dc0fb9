"""The ``postgres`` checkpointer: PostgresSaver / AsyncPostgresSaver on psycopg pools."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
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
from ._loops import LoopAwareMixin, PerLoop
from ._owned import register_closer

PACKAGE = "langgraph-checkpoint-postgres"
#: libpq's connect_timeout (whole seconds; libpq treats less than 2 as 2).
CONNECT_TIMEOUT = 3
#: How long a call waits for a pooled connection before PoolTimeout (psycopg_pool's
#: default of 30 s kept every request hanging while the server was down).
POOL_TIMEOUT = 4.0
#: How long the pool keeps retrying (with backoff) to replace a lost connection before
#: it gives up and lets the next request start a new attempt at once. psycopg_pool's
#: default (300 s) doubles the wait between attempts up to minutes, so requests went on
#: timing out well after the server was back.
RECONNECT_TIMEOUT = POOL_TIMEOUT
#: libpq options unless the URL sets them: a connect timeout, and TCP keepalives plus
#: tcp_user_timeout so a connection across a lost network (no RST ever comes) is
#: dropped after about 5 s instead of the kernel's 15 minutes. libpq has no timeout
#: for a server that is reachable but never answers.
_NETWORK_DEFAULTS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 5000,
}
#: How long one statement of the sync saver may wait for the server, and (CHECK_TIMEOUT)
#: a pooled connection's liveness check: libpq has no read timeout, so a server that
#: accepts connections and never answers (hung, or a proxy in front of a dead one)
#: would hold the call forever. Past it the connection's socket is shut down, which
#: ends the wait with psycopg's OperationalError: an outage (503) within 5 s.
STATEMENT_TIMEOUT = 4.0
CHECK_TIMEOUT = 1.5
POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
# Serialises table creation when several app servers start at once.
_MIGRATION_LOCK_KEY = 7_291_340_512


def _connection_kwargs(url: str) -> dict[str, Any]:
    """What langgraph's savers need: autocommit, dict rows, no server-side prepared
    statements (they break behind PgBouncer in transaction mode); plus a connect
    timeout unless the URL sets its own."""
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row

    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    given = conninfo_to_dict(url)
    for key, value in _NETWORK_DEFAULTS.items():
        if key not in given:
            kwargs[key] = value
    return kwargs


def check_config(config: dict[str, Any]) -> str:
    """The ``url`` option, checked without connecting."""
    check_options(config, ["url"])
    url = required_string(config, "url")
    require_modules(
        "postgres", PACKAGE, "postgres", "langgraph.checkpoint.postgres", "psycopg", "psycopg_pool"
    )
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as exc:
        raise missing_package("postgres", PACKAGE, "postgres") from exc
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise CheckpointerConfigError(f"invalid Postgres url {mask_url(url)!r}: {exc}") from exc
    return url


def _unavailable(url: str, exc: BaseException) -> CheckpointerUnavailable:
    message = str(exc).strip() or type(exc).__name__
    return CheckpointerUnavailable(f"cannot reach Postgres at {mask_url(url)}: {message}")


def _prepare_database(url: str) -> None:
    """Check the server is reachable and create/migrate the checkpoint tables, once.

    Runs synchronously over one short-lived connection, so the async saver
    (which may be created outside any loop) gets the same early errors.
    """
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
    except ImportError as exc:
        raise missing_package("postgres", PACKAGE, "postgres") from exc
    try:
        with psycopg.connect(url, **_connection_kwargs(url)) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
            try:
                PostgresSaver(conn).setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
    except psycopg.OperationalError as exc:
        raise _unavailable(url, exc) from exc
    except psycopg.Error as exc:  # e.g. no CREATE permission on the schema
        raise CheckpointerUnavailable(
            f"cannot create the checkpoint tables in Postgres at {mask_url(url)}: {exc}"
        ) from exc


@contextmanager
def cut_after(conn: Any, seconds: float) -> Iterator[None]:
    """Shut down `conn`'s socket if the block has not finished after `seconds`.

    A blocked psycopg call then fails at once with OperationalError, and the pool drops
    the broken connection when it comes back. A block that ends in time is untouched.
    """

    def cut() -> None:
        try:
            fd = conn.pgconn.socket
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)  # shared with libpq's descriptor
        except Exception:  # closed meanwhile: nothing left to cut
            pass

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _check_in_time(conn: Any) -> None:
    """The pool's liveness check of a connection handed out, bounded by CHECK_TIMEOUT."""
    from psycopg_pool import ConnectionPool

    with cut_after(conn, CHECK_TIMEOUT):
        ConnectionPool.check_connection(conn)


def _bounded_saver_class() -> type:
    """PostgresSaver whose every statement is bounded by STATEMENT_TIMEOUT."""
    from langgraph.checkpoint.postgres import PostgresSaver

    class BoundedPostgresSaver(PostgresSaver):
        @contextmanager
        def _cursor(self, *, pipeline: bool = False) -> Iterator[Any]:
            with (
                super()._cursor(pipeline=pipeline) as cur,
                cut_after(cur.connection, STATEMENT_TIMEOUT),
            ):
                yield cur

    return BoundedPostgresSaver


def sync_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """PostgresSaver over a ConnectionPool, so threads can share one saver."""
    url = check_config(config)
    _prepare_database(url)
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        url,
        min_size=POOL_MIN_SIZE,
        max_size=POOL_MAX_SIZE,
        kwargs=_connection_kwargs(url),
        timeout=POOL_TIMEOUT,
        reconnect_timeout=RECONNECT_TIMEOUT,
        # Test each connection as it is handed out: one broken by a server restart is
        # replaced, so the saver recovers by itself once the server is back; a hung
        # one is cut after CHECK_TIMEOUT.
        check=_check_in_time,
        open=True,
        name="yamlgraph-checkpoints",
    )
    return register_closer(_bounded_saver_class()(pool), close=pool.close)


def async_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """AsyncPostgresSaver whose AsyncConnectionPool opens on first use in a loop."""
    url = check_config(config)
    _prepare_database(url)
    saver = _async_class()(url)
    pools = saver._yg_pools
    return register_closer(
        saver,
        close=lambda: pools.close(_aclose_pool, _abandon_pool),
        aclose=lambda: pools.aclose(_aclose_pool, _abandon_pool),
    )


async def _open_pool(url: str) -> Any:
    from psycopg import OperationalError
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    pool = AsyncConnectionPool(
        url,
        min_size=POOL_MIN_SIZE,
        max_size=POOL_MAX_SIZE,
        kwargs=_connection_kwargs(url),
        timeout=POOL_TIMEOUT,
        reconnect_timeout=RECONNECT_TIMEOUT,
        check=AsyncConnectionPool.check_connection,
        open=False,
        name="yamlgraph-checkpoints-async",
    )
    try:
        await pool.open(wait=True, timeout=POOL_TIMEOUT)
    except (PoolTimeout, OperationalError) as exc:
        await pool.close()
        raise _unavailable(url, exc) from exc
    return pool


async def _aclose_pool(pool: Any) -> None:
    await pool.close()


def _abandon_pool(pool: Any) -> None:
    """Close the idle connections of a pool whose event loop has ended.

    libpq's finish() closes the socket without needing the loop.
    """
    for conn in list(getattr(pool, "_pool", ())):
        conn.pgconn.finish()


def _build_async_class(base: type) -> type:
    class YamlgraphAsyncPostgresSaver(LoopAwareMixin, base):  # type: ignore[valid-type, misc]
        """AsyncPostgresSaver that can be created outside a loop and used from any loop.

        Every query goes through ``_cursor``; it first makes sure the pool of
        the running loop is open (``conn`` then returns that pool).
        """

        def __init__(self, url: str) -> None:
            self._yg_url = url
            self._yg_pools: PerLoop[Any] = PerLoop("Postgres async checkpointer")
            self._yg_construct(lambda: base.__init__(self, None))

        @property
        def conn(self) -> Any:
            return self._yg_pools.current()

        @conn.setter
        def conn(self, value: Any) -> None:
            """Ignored: the pool is per event loop (see the getter)."""

        async def _yg_release_loop_resources(self) -> None:
            await self._yg_pools.aclose(_aclose_pool, _abandon_pool)

        @asynccontextmanager
        async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
            url = self._yg_url
            await self._yg_pools.get(lambda: _open_pool(url), _abandon_pool)
            async with super()._cursor(pipeline=pipeline) as cur:
                yield cur

    return YamlgraphAsyncPostgresSaver


#: The AsyncPostgresSaver subclass (built on first use: the package is optional).
_async_class = optional_subclass(
    "postgres",
    PACKAGE,
    "langgraph.checkpoint.postgres.aio:AsyncPostgresSaver",
    _build_async_class,
    extra="postgres",
)
