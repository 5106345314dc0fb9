"""The real-server harness itself: Valkey start/stop/crash reports, the Postgres test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NO_POSTGRES, postgres_test_url
from tests.servers import POSTGRES_TEST_DATABASE, ServerError, ValkeyServer, database_url

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.redis
def test_valkey_has_json_and_search_and_no_lazy_free() -> None:
    import redis

    with ValkeyServer() as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            modules = {m["name"] for m in client.module_list()}
            lazy = client.config_get("lazyfree-*")
        finally:
            client.close()
    assert {"ReJSON", "search"} <= modules
    assert set(lazy.values()) == {"no"}, lazy
    assert server.process is None  # stopped


def test_the_plain_server_has_no_modules(plain_redis_url: str) -> None:
    """What `redis-simple` is tested on: no RedisJSON or RediSearch commands."""
    import redis

    client = redis.Redis.from_url(plain_redis_url, decode_responses=True)
    try:
        # Valkey lists its built-in Lua engine as a module; nothing else is loaded.
        assert {m["name"] for m in client.module_list()} <= {"lua"}
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("FT._LIST")
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("JSON.GET", "nothing")
    finally:
        client.close()


@pytest.mark.redis
def test_a_server_that_dies_on_start_reports_its_log() -> None:
    class Broken(ValkeyServer):
        def command(self, port: int) -> list[str]:
            return [*super().command(port), "--loadmodule", "/nonexistent/module.so"]

    with pytest.raises(ServerError) as info:
        Broken().start(timeout=5)
    message = str(info.value)
    assert message.startswith("Valkey did not start. Server log:")
    assert "/nonexistent/module.so" in message


@pytest.mark.redis
def test_make_redis_entry_point_prints_url_and_stops_on_signal() -> None:
    import redis

    with subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "redis", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith(
                "Valkey (RedisJSON + RediSearch) is running at redis://127.0.0.1:"
            )
            url = first.rsplit(" ", 1)[1].strip()
            client = redis.Redis.from_url(url)
            assert client.ping()
            client.close()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()


def test_database_url_switches_database_and_scheme() -> None:
    assert database_url("postgres://postgres@127.0.0.1:5432/postgres", "x") == (
        "postgresql://postgres@127.0.0.1:5432/x"
    )
    assert database_url("postgresql://u:p@h/db?sslmode=disable", "x") == (
        "postgresql://u:p@h/x?sslmode=disable"
    )


def test_without_database_url_postgres_tests_skip_with_reason() -> None:
    assert postgres_test_url({}) is None
    assert postgres_test_url({"DATABASE_URL": "  "}) is None
    assert NO_POSTGRES == "DATABASE_URL is not set: no Postgres server to test against"


@pytest.mark.postgres
def test_postgres_test_database_is_created_once_and_kept() -> None:
    admin = os.environ.get("DATABASE_URL")
    if not admin:
        pytest.skip(NO_POSTGRES)
    url = postgres_test_url({"DATABASE_URL": admin})
    assert url is not None and url.endswith("/" + POSTGRES_TEST_DATABASE)
    assert postgres_test_url({"DATABASE_URL": admin}) == url  # idempotent
    import psycopg

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == POSTGRES_TEST_DATABASE
