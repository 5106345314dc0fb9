"""Event-loop plumbing for async savers.

Upstream async savers bind to the event loop that creates them: the Postgres
and SQLite ones call ``asyncio.get_running_loop()`` in ``__init__``, and every
async client (redis.asyncio, psycopg's AsyncConnectionPool) keeps sockets
that only work on the loop that opened them. The seed's contract, however, is
``get_checkpointer(config, async_mode=True)`` called from plain synchronous
code, and Django runs each ``async_to_sync`` call on a fresh loop.

So our async savers open their connections lazily, on first use inside a
running loop, and reopen them when a later loop uses the saver after the
previous loop has ended. Connections left on a dead loop are shut down at the
socket level (they cannot be closed the normal way without their loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

logger = logging.getLogger("yamlgraph.storage")

T = TypeVar("T")

# Tasks scheduled by a synchronous close() called from inside their own loop;
# kept referenced so they are not garbage-collected before they finish.
_BACKGROUND: set[asyncio.Task[Any]] = set()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def run_in_fresh_loop(make_coro: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a new private loop (no global loop is set)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_await(make_coro))
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _await(make_coro: Callable[[], Awaitable[T]]) -> T:
    return await make_coro()


def construct_outside_loop(init: Callable[[], None]) -> None:
    """Run an upstream ``__init__`` that insists on a running loop, from sync code too.

    AsyncSqliteSaver and AsyncPostgresSaver call ``asyncio.get_running_loop()``
    in ``__init__`` only to remember the loop; our subclasses track the loop
    themselves (LoopAwareMixin), so a short-lived private loop is enough here.
    """
    if running_loop() is not None:
        init()
        return

    async def call() -> None:
        init()

    run_in_fresh_loop(call)


class LoopAwareMixin:
    """``loop`` and ``lock`` for upstream async savers, following the loop in use.

    Upstream keeps one ``asyncio.Lock`` (bound to the first loop that contends
    for it) and the creating loop in ``self.loop`` (used by the sync methods to
    hop onto the loop from worker threads). Here ``lock`` is one lock per loop
    and ``loop`` is the loop that last used the saver.
    """

    _yg_loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._yg_loop

    @loop.setter
    def loop(self, value: asyncio.AbstractEventLoop | None) -> None:
        self._yg_loop = value if value is not None and not value.is_closed() else None

    @property
    def lock(self) -> asyncio.Lock:
        current = running_loop()
        if current is not None:
            self._yg_loop = current
        locks: dict[Any, asyncio.Lock] = self.__dict__.setdefault("_yg_locks", {})
        for dead in [loop for loop in locks if loop is not None and loop.is_closed()]:
            del locks[dead]
        lock = locks.get(current)
        if lock is None:
            lock = locks[current] = asyncio.Lock()
        return lock

    @lock.setter
    def lock(self, value: asyncio.Lock) -> None:
        """Ignored: a lock is made per loop on demand (see the getter)."""

    def _yg_construct(self, init: Callable[[], None]) -> None:
        """Run upstream's ``__init__`` (see :func:`construct_outside_loop`); the loop it
        remembers is kept only if it is the caller's running loop."""
        construct_outside_loop(init)
        if self.loop is not running_loop():
            self.loop = None


class PerLoop(Generic[T]):
    """One connection resource (client, pool) for the loop currently using a saver.

    ``get()`` opens it on first use in a loop; a later loop gets a fresh one
    once the previous loop is no longer running (the old one is abandoned:
    its sockets are shut down). Two loops running at the same time cannot
    share one async saver: that raises a RuntimeError saying so.

    The open/close/abandon callables are passed per call so that this object
    holds no reference to the saver (it is reachable from the close registry).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[T] | None = None
        self._mutex = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the current resource belongs to (None before first use)."""
        return self._loop

    def current(self) -> T | None:
        """The opened resource if it belongs to the running loop, else None."""
        task = self._task
        if self._loop is None or self._loop is not running_loop() or task is None:
            return None
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        return None

    async def get(
        self,
        open_: Callable[[], Awaitable[T]],
        abandon: Callable[[T], None],
    ) -> T:
        """The resource for the running loop, opening it (once) if needed."""
        loop = asyncio.get_running_loop()
        with self._mutex:
            if self._loop is not loop:
                self._leave_previous_loop(abandon)
                self._loop = loop
                self._task = loop.create_task(_call(open_))
            task = self._task
        assert task is not None
        try:
            return await asyncio.shield(task)
        except BaseException:
            if task.done():
                with self._mutex:
                    if self._task is task:
                        self._loop = self._task = None
            raise

    def _leave_previous_loop(self, abandon: Callable[[T], None]) -> None:
        old, task = self._loop, self._task
        if old is None or task is None:
            return
        if old.is_running():
            raise RuntimeError(
                f"this {self.what} is in use by another running event loop; an async "
                "checkpointer serves one event loop at a time (create one per loop)"
            )
        self._loop = self._task = None
        _abandon_task(task, abandon)

    def _take(self) -> tuple[asyncio.AbstractEventLoop | None, asyncio.Future[T] | None]:
        with self._mutex:
            taken = self._loop, self._task
            self._loop = self._task = None
        return taken

    async def aclose(
        self,
        close: Callable[[T], Awaitable[None]],
        abandon: Callable[[T], None],
    ) -> None:
        """Close the resource from async code (any loop)."""
        loop, task = self._take()
        if loop is None or task is None:
            return
        if loop is running_loop():
            await _close_task(task, close)
        elif loop.is_running():
            future = asyncio.run_coroutine_threadsafe(_close_task(task, close), loop)
            await asyncio.wrap_future(future)
        else:
            _abandon_task(task, abandon)

    def close(
        self,
        close: Callable[[T], Awaitable[None]],
        abandon: Callable[[T], None],
    ) -> None:
        """Close the resource from sync code, on its own loop when that loop still exists."""
        loop, task = self._take()
        if loop is None or task is None:
            return
        current = running_loop()
        if loop.is_running():
            if loop is current:
                # Called synchronously from inside the loop: we cannot wait here,
                # so the loop finishes the close on its own.
                background = loop.create_task(_close_task(task, close))
                _BACKGROUND.add(background)
                background.add_done_callback(_BACKGROUND.discard)
            else:
                asyncio.run_coroutine_threadsafe(_close_task(task, close), loop).result(timeout=30)
        elif not loop.is_closed() and current is None:
            loop.run_until_complete(_close_task(task, close))
        else:
            _abandon_task(task, abandon)


async def _call(open_: Callable[[], Awaitable[T]]) -> T:
    return await open_()


async def _close_task(task: asyncio.Future[T], close: Callable[[T], Awaitable[None]]) -> None:
    try:
        resource = await task
    except BaseException:  # it never opened: nothing to close
        return
    await close(resource)


def _abandon_task(task: asyncio.Future[T], abandon: Callable[[T], None]) -> None:
    if task.done() and not task.cancelled() and task.exception() is None:
        try:
            abandon(task.result())
        except Exception:  # best effort on a dead loop; never mask the caller's work
            logger.debug("could not release connections left on a closed event loop", exc_info=True)


def close_dead_stream(writer: Any) -> None:
    """Close the TCP connection under an asyncio StreamWriter whose loop has ended.

    ``transport.close()`` marks the transport closing, then fails scheduling
    its callback on the dead loop; the socket is shut down and closed here
    directly instead of being left to the garbage collector (which would also
    warn "unclosed transport").
    """
    if writer is None:
        return
    transport = writer.transport
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # the server sees the disconnect now
    with contextlib.suppress(RuntimeError):  # "Event loop is closed"
        transport.close()
    raw = getattr(transport, "_sock", None)
    if isinstance(raw, socket.socket):
        raw.close()
        with contextlib.suppress(AttributeError):
            transport._sock = None
