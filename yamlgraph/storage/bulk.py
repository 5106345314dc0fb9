"""Deleting the checkpoints of many threads at once, for pruning at scale.

One statement per table per batch where the saver keeps its checkpoints in SQL (the
SQLite and Postgres savers, and any saver with a `delete_threads` method of its own);
one `delete_thread` per thread elsewhere (Redis, memory).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from langgraph.checkpoint.base import BaseCheckpointSaver

#: Threads per statement: well under SQLite's 32,766 bound parameters.
CHUNK = 500

_SQLITE_TABLES = ("checkpoints", "writes")
_POSTGRES_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


def delete_threads(saver: BaseCheckpointSaver, thread_ids: Sequence[str]) -> None:
    """Delete every checkpoint and pending write of each of `thread_ids`."""
    ids = [str(thread_id) for thread_id in thread_ids]
    if not ids:
        return
    own = getattr(saver, "delete_threads", None)
    if callable(own):
        own(ids)
        return
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    if isinstance(saver, SqliteSaver):
        with saver.cursor() as cursor:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                marks = ",".join("?" * len(chunk))
                for table in _SQLITE_TABLES:
                    cursor.execute(f"DELETE FROM {table} WHERE thread_id IN ({marks})", chunk)
        return
    if isinstance(saver, PostgresSaver):
        _delete_postgres(saver, ids)
        return
    from yamlgraph.storage import delete_thread

    for thread_id in ids:
        delete_thread(saver, thread_id)


def _delete_postgres(saver: BaseCheckpointSaver, ids: list[str]) -> None:
    """`= ANY(%s)` with the whole list: one statement per table, in one transaction."""
    from psycopg_pool import ConnectionPool

    pool_or_conn = saver.conn  # type: ignore[attr-defined]
    with saver.lock:  # type: ignore[attr-defined]
        if isinstance(pool_or_conn, ConnectionPool):
            context = pool_or_conn.connection()
        else:
            context = contextlib.nullcontext(pool_or_conn)
        with context as conn, conn.transaction():
            for table in _POSTGRES_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE thread_id = ANY(%s)", (ids,))
