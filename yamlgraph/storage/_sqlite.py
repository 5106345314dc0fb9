"""The ``sqlite`` checkpointer: SqliteSaver, or AsyncSqliteSaver over aiosqlite."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from ._config import (
    CheckpointerConfigError,
    CheckpointerUnavailable,
    check_options,
    missing_package,
    optional_subclass,
    required_string,
)
from ._loops import LoopAwareMixin, run_in_fresh_loop, running_loop
from ._owned import register_closer

logger = logging.getLogger("yamlgraph.storage")

PACKAGE = "langgraph-checkpoint-sqlite"
#: Seconds a statement waits for another connection's lock before "database is locked".
BUSY_TIMEOUT = 5.0


def check_config(config: dict[str, Any]) -> str:
    """The ``path`` option, checked without touching the file system."""
    check_options(config, ["path"])
    return required_string(config, "path")


def _path(config: dict[str, Any]) -> str:
    path = check_config(config)
    if path == ":memory:":
        return path
    file = Path(path).expanduser()
    # A fresh checkout has no data directory yet; sqlite would fail with the
    # unhelpful "unable to open database file".
    file.parent.mkdir(parents=True, exist_ok=True)
    return str(file)


def _error(path: str, exc: sqlite3.Error) -> Exception:
    """A locked or failing disk is an outage (retry later); anything else is the path's fault."""
    text = str(exc).lower()
    if "locked" in text or "disk i/o" in text:
        return CheckpointerUnavailable(f"SQLite database {path!r} is unavailable: {exc}")
    return CheckpointerConfigError(f"cannot use SQLite database {path!r}: {exc}")


def _open_sync(path: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise _error(path, exc) from exc


def _create_tables(saver: BaseCheckpointSaver, conn: sqlite3.Connection, path: str) -> None:
    """Create the tables now, so an unwritable file fails here and not at the first interrupt."""
    try:
        saver.setup()
    except sqlite3.Error as exc:
        conn.close()
        raise _error(path, exc) from exc


def sync_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """SqliteSaver on one connection shared by all threads (the saver locks around it)."""
    path = _path(config)
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError as exc:
        raise missing_package("sqlite", PACKAGE) from exc
    conn = _open_sync(path)
    saver = SqliteSaver(conn)
    _create_tables(saver, conn, path)
    return register_closer(saver, close=conn.close)


def async_factory(config: dict[str, Any]) -> BaseCheckpointSaver:
    """AsyncSqliteSaver; falls back to InMemorySaver (with a WARNING) without aiosqlite."""
    path = _path(config)
    try:
        import aiosqlite
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError as exc:
        if exc.name and exc.name.startswith("langgraph"):
            raise missing_package("sqlite", PACKAGE) from exc
        logger.warning(
            "aiosqlite is not installed: the async sqlite checkpointer for %s falls back to "
            "an in-memory saver, so sessions are lost on restart (pip install aiosqlite)",
            path,
        )
        return InMemorySaver()
    saver_class = _async_class()
    if path != ":memory:":
        # The same tables as the async saver's; created (and file errors raised) now.
        conn = _open_sync(path)
        _create_tables(SqliteSaver(conn), conn, path)
        conn.close()
    aconn = aiosqlite.connect(path, timeout=BUSY_TIMEOUT)
    # aiosqlite's worker thread is not a daemon: a saver never closed would keep
    # the interpreter from exiting. Every write is committed, so exiting is safe.
    thread = getattr(aconn, "_thread", None)
    if thread is not None and not thread.is_alive():
        thread.daemon = True
    return register_closer(
        saver_class(aconn),
        close=lambda: _close_aiosqlite(aconn),
        aclose=aconn.close,
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


def _build_async_class(base: type) -> type:
    class YamlgraphAsyncSqliteSaver(LoopAwareMixin, base):  # type: ignore[valid-type, misc]
        """AsyncSqliteSaver that can be created outside a loop and used from any loop.

        aiosqlite runs sqlite on its own thread and answers on whichever loop
        awaits, so only upstream's loop/lock bookkeeping needed adapting.
        """

        def __init__(self, conn: Any) -> None:
            self._yg_construct(lambda: base.__init__(self, conn))

        async def adelete_thread(self, thread_id: str) -> None:
            # Upstream skips setup() here, so deleting first on a fresh
            # connection failed with "no active connection".
            await self.setup()
            await super().adelete_thread(thread_id)

    return YamlgraphAsyncSqliteSaver


#: The AsyncSqliteSaver subclass (built on first use: the package is optional).
_async_class = optional_subclass(
    "sqlite", PACKAGE, "langgraph.checkpoint.sqlite.aio:AsyncSqliteSaver", _build_async_class
)
