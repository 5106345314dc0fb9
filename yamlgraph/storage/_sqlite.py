"""The ``sqlite`` checkpointer: SqliteSaver, or AsyncSqliteSaver over aiosqlite."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from ._config import CheckpointerConfigError, check_options, missing_package, required_string
from ._loops import LoopAwareMixin, construct_outside_loop, run_in_fresh_loop, running_loop
from ._owned import register_closer

logger = logging.getLogger("yamlgraph.storage")

PACKAGE = "langgraph-checkpoint-sqlite"


def _path(config: dict[str, Any]) -> str:
    check_options(config, ["path"])
    path = required_string(config, "path")
    if path == ":memory:":
        return path
    file = Path(path).expanduser()
    # A fresh checkout has no data directory yet; sqlite would fail with the
    # unhelpful "unable to open database file".
    file.parent.mkdir(parents=True, exist_ok=True)
    return str(file)


def _open_sync(path: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, check_same_thread=False)
    except sqlite3.Error as exc:
        raise CheckpointerConfigError(f"cannot open SQLite database {path!r}: {exc}") from exc


def sync_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """SqliteSaver on one connection shared by all threads (the saver locks around it)."""
    path = _path(config)
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError as exc:
        raise missing_package("sqlite", PACKAGE) from exc
    conn = _open_sync(path)
    saver = SqliteSaver(conn)
    try:
        saver.setup()  # fail now on an unwritable file, not at the first interrupt
    except sqlite3.Error as exc:
        conn.close()
        raise CheckpointerConfigError(f"cannot use SQLite database {path!r}: {exc}") from exc
    return register_closer(saver, close=conn.close)


def async_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """AsyncSqliteSaver; falls back to InMemorySaver (with a WARNING) without aiosqlite."""
    path = _path(config)
    try:
        import aiosqlite  # noqa: F401
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver  # noqa: F401
    except ImportError as exc:
        if exc.name and exc.name.startswith("langgraph"):
            raise missing_package("sqlite", PACKAGE) from exc
        logger.warning(
            "aiosqlite is not installed: the async sqlite checkpointer for %s falls back to "
            "an in-memory saver, so sessions are lost on restart (pip install aiosqlite)",
            path,
        )
        return InMemorySaver()
    if path != ":memory:":
        # Create the tables and surface file errors now, synchronously.
        conn = _open_sync(path)
        try:
            sync_factory_setup(conn, path)
        finally:
            conn.close()
    return _make_async(path)


def sync_factory_setup(conn: sqlite3.Connection, path: str) -> None:
    """Create the checkpoint tables through the sync saver (same schema as the async one)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    try:
        SqliteSaver(conn).setup()
    except sqlite3.Error as exc:
        raise CheckpointerConfigError(f"cannot use SQLite database {path!r}: {exc}") from exc


def _make_async(path: str) -> BaseCheckpointSaver:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    class YamlgraphAsyncSqliteSaver(LoopAwareMixin, AsyncSqliteSaver):
        """AsyncSqliteSaver that can be created outside a loop and used from any loop.

        aiosqlite runs sqlite on its own thread and answers on whichever loop
        awaits, so only upstream's loop/lock bookkeeping needed adapting.
        """

        def __init__(self, conn: aiosqlite.Connection) -> None:
            construct_outside_loop(lambda: AsyncSqliteSaver.__init__(self, conn))
            if self.loop is not running_loop():
                self.loop = None

        async def adelete_thread(self, thread_id: str) -> None:
            # Upstream skips setup() here, so deleting first on a fresh
            # connection failed with "no active connection".
            await self.setup()
            await super().adelete_thread(thread_id)

    conn = aiosqlite.connect(path)
    # aiosqlite's worker thread is not a daemon: a saver never closed would keep
    # the interpreter from exiting. Every write is committed, so exiting is safe.
    thread = getattr(conn, "_thread", None)
    if thread is not None and not thread.is_alive():
        thread.daemon = True
    saver = YamlgraphAsyncSqliteSaver(conn)
    return register_closer(
        saver,
        close=lambda: _close_aiosqlite(conn),
        aclose=conn.close,
    )


def _close_aiosqlite(conn: Any) -> None:
    """Close an aiosqlite connection from sync code; it is not tied to any loop."""
    if getattr(conn, "_connection", None) is None:  # never opened, or already closed
        thread = getattr(conn, "_thread", None)
        if thread is not None and thread.is_alive():
            conn.stop()
        return
    if running_loop() is not None:
        conn.stop()  # cannot block the running loop; the worker thread closes it
        return
    run_in_fresh_loop(conn.close)
