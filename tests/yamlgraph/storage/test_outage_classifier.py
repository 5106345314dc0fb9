"""is_store_outage on the errors real clients raise, not on hand-made instances only."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from tests.servers import free_port
from yamlgraph.errors import GraphRuntimeError
from yamlgraph.storage import CheckpointerUnavailable, is_store_outage


def raised(call) -> BaseException:
    with pytest.raises(BaseException) as caught:
        call()
    return caught.value


def test_a_locked_sqlite_database_is_an_outage(tmp_path: Path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    try:
        error = raised(lambda: other.execute("SELECT * FROM t").fetchall())
    finally:
        other.close()
        holder.close()
    assert "locked" in str(error)
    assert is_store_outage(error)


def test_an_unopenable_sqlite_file_is_an_outage_but_a_bad_query_is_not(tmp_path: Path):
    missing_dir = tmp_path / "gone" / "x.db"
    assert is_store_outage(raised(lambda: sqlite3.connect(missing_dir)))
    conn = sqlite3.connect(":memory:")
    assert not is_store_outage(raised(lambda: conn.execute("SELECT * FROM no_such_table")))


def test_redis_connection_refused_and_redisvl_errors_wrapping_it():
    import redis
    from redisvl.index import SearchIndex
    from redisvl.query import FilterQuery

    url = f"redis://127.0.0.1:{free_port()}"
    client = redis.Redis.from_url(url, socket_connect_timeout=1, retry=None)
    assert is_store_outage(raised(client.ping))
    index = SearchIndex.from_dict(
        {
            "index": {"name": "outage-probe", "prefix": "probe"},
            "fields": [{"name": "a", "type": "tag"}],
        },
        redis_client=client,
    )
    wrapped = raised(lambda: index.search(FilterQuery(return_fields=["a"]).query))
    # RedisSearchError, raised from the ConnectionError
    assert type(wrapped).__module__.startswith("redisvl")
    assert is_store_outage(wrapped)
    client.close()


def test_postgres_connection_refused_and_pool_timeout():
    import psycopg
    from psycopg_pool import ConnectionPool

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    assert is_store_outage(raised(lambda: psycopg.connect(url, connect_timeout=2)))
    pool = ConnectionPool(url, min_size=1, open=True, timeout=0.5, kwargs={"connect_timeout": 2})
    try:
        error = raised(lambda: pool.getconn())
    finally:
        pool.close()
    assert type(error).__name__ == "PoolTimeout"
    assert is_store_outage(error)


def test_network_oserrors_are_outages_other_oserrors_are_not():
    assert is_store_outage(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert is_store_outage(TimeoutError("timed out"))
    assert is_store_outage(OSError(errno.EHOSTUNREACH, "no route to host"))
    assert not is_store_outage(FileNotFoundError(errno.ENOENT, "tool file"))
    assert not is_store_outage(PermissionError(errno.EACCES, "denied"))


def test_the_cause_chain_is_followed_and_graph_errors_are_not_outages():
    try:
        try:
            raise ConnectionResetError(errno.ECONNRESET, "reset")
        except OSError as exc:
            raise RuntimeError("the saver failed") from exc
    except RuntimeError as wrapped:
        assert is_store_outage(wrapped)
    assert is_store_outage(CheckpointerUnavailable("cannot reach Redis"))
    assert not is_store_outage(GraphRuntimeError("ask", "no outgoing edge matched"))
    assert not is_store_outage(ValueError("bad input"))
    assert not is_store_outage(KeyError("x"))


def test_exception_groups_count_when_every_member_is_an_outage():
    assert is_store_outage(ExceptionGroup("all", [TimeoutError(), ConnectionRefusedError()]))
    assert not is_store_outage(ExceptionGroup("mixed", [TimeoutError(), ValueError("bug")]))
