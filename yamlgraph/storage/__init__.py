"""Checkpointer factory: a graph's ``checkpointer:`` block -> a LangGraph saver.

    from yamlgraph.storage import get_checkpointer

    saver = get_checkpointer({"type": "redis", "url": "${REDIS_URL}", "ttl": 120})
    async_saver = get_checkpointer({"type": "sqlite", "path": "s.db"}, async_mode=True)

Types: ``memory``, ``sqlite`` (``path``), ``redis`` (``url``, ``ttl`` minutes),
``redis-simple`` (Redis without modules: ``url``, ``ttl``, ``prefix``,
``max_connections``), ``postgres`` (``url``); more via register_checkpointer(). Strings in the block
may use ``${VAR}`` / ``${VAR:-default}``. Savers that hold connections are
released with close_checkpointer() / aclose_checkpointer(), or use the
checkpointer() context manager. Async savers may be created from sync code:
they connect on first use inside the running loop.
"""

from __future__ import annotations

import asyncio
import difflib
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, NoReturn

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from . import _postgres, _redis, _redis_simple, _sqlite
from ._config import (
    CheckpointerConfigError,
    CheckpointerUnavailable,
    MissingPackage,
    UnsetEnvironmentVariable,
    check_options,
    expand_env,
    mask_url,
    normalize_config,
)
from ._loops import run_in_fresh_loop, running_loop
from ._outage import is_store_outage
from ._owned import pop_owned, register_closer

__all__ = [
    "CheckpointerConfigError",
    "CheckpointerUnavailable",
    "aclose_checkpointer",
    "adelete_thread",
    "checkpointer",
    "checkpointer_type",
    "checkpointer_types",
    "check_options",
    "close_checkpointer",
    "delete_thread",
    "expand_env",
    "get_checkpointer",
    "is_store_outage",
    "mask_url",
    "MissingPackage",
    "register_checkpointer",
    "register_closer",
    "UnsetEnvironmentVariable",
    "validate_checkpointer",
]

Config = Mapping[str, Any] | str | None
Factory = Callable[[dict[str, Any]], BaseCheckpointSaver]
Check = Callable[[dict[str, Any]], Any]
PathLike = str | os.PathLike[str]

_REGISTRY: dict[str, tuple[Factory, Factory]] = {}
_CHECKS: dict[str, Check] = {}


def register_checkpointer(
    name: str, sync_factory: Factory, async_factory: Factory, check: Check | None = None
) -> None:
    """Make ``type: name`` available; registering a name again replaces it.

    Both factories get the config dict after ``${VAR}`` expansion, with
    ``type`` lower-cased. A factory that opens connections should record how
    to release them with register_closer(). Raise CheckpointerConfigError for
    bad options (the graph file is added to the message) and
    CheckpointerUnavailable when the backing server cannot be reached.
    `check`, if given, gets the same dict and raises CheckpointerConfigError for
    bad options without connecting anywhere: validate_checkpointer() (and so graph
    validation) calls it.
    """
    key = name.strip().lower()
    if not key:
        raise ValueError("a checkpointer type needs a non-empty name")
    _REGISTRY[key] = (sync_factory, async_factory)
    if check is None:
        _CHECKS.pop(key, None)
    else:
        _CHECKS[key] = check


def checkpointer_types() -> list[str]:
    """The registered type names, sorted."""
    return sorted(_REGISTRY)


def checkpointer_type(config: Config) -> str:
    """The normalized type name of a checkpointer block (``None`` -> ``"memory"``).

    Does not expand ``${VAR}`` and does not check that the type is registered.
    """
    return normalize_config(config)["type"]


def validate_checkpointer(config: Config, *, source: PathLike | None = None) -> dict[str, Any]:
    """The block with ``${VAR}`` expanded, once it is known to be usable; connects nowhere.

    Raises UnsetEnvironmentVariable for an unset ``${VAR}`` and CheckpointerConfigError
    for an unknown type (listing the known ones) or an option the type does not take.
    What get_checkpointer() checks before it connects, for validators and system checks.
    """
    try:
        block = normalize_config(expand_env(config, source=source))
        kind = block["type"]
        if kind not in _REGISTRY:
            known = checkpointer_types()
            close = difflib.get_close_matches(kind, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CheckpointerConfigError(
                f"unknown checkpointer type {kind!r}{hint}; known types: {', '.join(known)}"
            )
        check = _CHECKS.get(kind)
        if check is not None:
            check(block)
    except CheckpointerConfigError as exc:
        _raise_naming(exc, source)
    return block


def get_checkpointer(
    config: Config,
    async_mode: bool = False,
    *,
    source: PathLike | None = None,
) -> BaseCheckpointSaver:
    """Build the saver a checkpointer block describes.

    `config` is the block (a dict with ``type``), a type name (``"memory"``),
    or None (memory). With `async_mode` the saver supports LangGraph's async
    API (``ainvoke``/``astream``); it may be created here, outside any loop,
    and connects on first use inside the running loop. `source` is the graph
    file, named in error messages.

    Raises CheckpointerConfigError (a ValueError) for a bad block and
    CheckpointerUnavailable when Redis/Postgres cannot be reached.
    """
    block = validate_checkpointer(config, source=source)
    try:
        return _REGISTRY[block["type"]][1 if async_mode else 0](block)
    except CheckpointerConfigError as exc:
        _raise_naming(exc, source)
    except CheckpointerUnavailable as exc:
        if source is None:
            raise
        raise CheckpointerUnavailable(f"{os.fspath(source)}: {exc}") from exc.__cause__


def _raise_naming(exc: CheckpointerConfigError, source: PathLike | None) -> NoReturn:
    """Raise `exc`, or its copy naming the graph file `source` when it names none."""
    error = exc.with_source(source)
    if error is exc:
        raise exc
    raise error from exc.__cause__


def close_checkpointer(saver: BaseCheckpointSaver | None) -> None:
    """Release the connections, pools and clients the factory opened for `saver`.

    Safe to call twice and on savers that hold nothing (memory). From inside a
    running loop prefer ``await aclose_checkpointer(saver)``: an async saver
    closed from there finishes closing in the background.
    """
    owned = pop_owned(saver) if saver is not None else None
    if owned is not None and owned.close is not None:
        owned.close()


async def aclose_checkpointer(saver: BaseCheckpointSaver | None) -> None:
    """Async twin of close_checkpointer(); never blocks the running loop."""
    owned = pop_owned(saver) if saver is not None else None
    if owned is None:
        return
    if owned.aclose is not None:
        await owned.aclose()
    elif owned.close is not None:
        await asyncio.to_thread(owned.close)


class checkpointer:  # lower-case: used like a function, `with checkpointer(cfg) as saver`
    """Context manager: ``with checkpointer(cfg) as saver`` / ``async with ...``.

    The saver is created on entry (for ``async with``: inside the running
    loop) and closed on exit, so scripts and tests do not leak connections.
    """

    def __init__(
        self, config: Config, async_mode: bool = False, *, source: PathLike | None = None
    ) -> None:
        self.config = config
        self.async_mode = async_mode
        self.source = source
        self.saver: BaseCheckpointSaver | None = None

    def __enter__(self) -> BaseCheckpointSaver:
        self.saver = get_checkpointer(self.config, self.async_mode, source=self.source)
        return self.saver

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        saver, self.saver = self.saver, None
        close_checkpointer(saver)

    async def __aenter__(self) -> BaseCheckpointSaver:
        self.saver = get_checkpointer(self.config, self.async_mode, source=self.source)
        return self.saver

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        saver, self.saver = self.saver, None
        await aclose_checkpointer(saver)


# Upstream async savers whose sync methods only work from a thread other than
# the one running their loop.
_LOOP_BOUND_SAVERS = frozenset(
    {"AsyncSqliteSaver", "AsyncPostgresSaver", "AsyncRedisSaver", "AsyncShallowRedisSaver"}
)


def _loop_bound(saver: BaseCheckpointSaver) -> bool:
    return any(cls.__name__ in _LOOP_BOUND_SAVERS for cls in type(saver).__mro__)


def delete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Delete every checkpoint and pending write of `thread_id`, from sync code.

    Works for sync and async savers. An async saver runs the deletion on its
    loop when that loop is running in another thread, else on a private loop;
    from inside a running loop use ``await adelete_thread(...)``.
    """
    if not _loop_bound(saver):
        try:
            saver.delete_thread(thread_id)
            return
        except NotImplementedError:
            pass
    bound = getattr(saver, "loop", None)
    current = running_loop()
    if isinstance(bound, asyncio.AbstractEventLoop) and bound.is_running() and bound is not current:
        asyncio.run_coroutine_threadsafe(saver.adelete_thread(thread_id), bound).result()
        return
    if current is not None:
        raise RuntimeError(
            "delete_thread() on an async checkpointer would block the running event loop; "
            "use `await adelete_thread(saver, thread_id)`"
        )
    release = getattr(saver, "_yg_release_loop_resources", None)

    async def run() -> None:
        try:
            await saver.adelete_thread(thread_id)
        finally:
            if release is not None:  # its connections die with the private loop
                await release()

    run_in_fresh_loop(run)


async def adelete_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Delete every checkpoint and pending write of `thread_id`, from async code.

    Sync-only savers (SqliteSaver, PostgresSaver, RedisSaver) run their
    delete_thread in a worker thread so the loop is not blocked.
    """
    try:
        await saver.adelete_thread(thread_id)
    except NotImplementedError:
        await asyncio.to_thread(saver.delete_thread, thread_id)


def _check_memory(config: dict[str, Any]) -> None:
    check_options(config, [])


def _memory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """InMemorySaver serves sync and async code alike; nothing to close."""
    _check_memory(config)
    return InMemorySaver()


register_checkpointer("memory", _memory, _memory, _check_memory)
register_checkpointer("sqlite", _sqlite.sync_factory, _sqlite.async_factory, _sqlite.check_config)
register_checkpointer("redis", _redis.sync_factory, _redis.async_factory, _redis.check_config)
register_checkpointer(
    "postgres", _postgres.sync_factory, _postgres.async_factory, _postgres.check_config
)
register_checkpointer(
    "redis-simple",
    _redis_simple.sync_factory,
    _redis_simple.async_factory,
    _redis_simple.check_config,
)
