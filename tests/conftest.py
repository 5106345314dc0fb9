"""Test-wide fixtures: real servers (Valkey with RedisJSON/RediSearch, Postgres).

- ``redis_url``: one Valkey server per test run, started on first use.
  ``redis_clean_url`` empties it first (FLUSHALL also drops the search
  indexes, so create savers after requesting it).
- ``plain_redis_url`` / ``plain_redis_clean_url``: a second Valkey started WITHOUT
  modules (plain Redis), for ``redis-simple``, the event log and RQ.
- ``postgres_url``: the dedicated database ``yamlgraph_test_checkpoints`` on
  the server of ``DATABASE_URL`` (created if missing); skips without it.

Tests using these fixtures get the ``redis`` / ``postgres`` marker, so
``pytest -m "not redis and not postgres"`` runs without servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import pytest

from tests.servers import ServerError, ValkeyServer, ensure_postgres_database

NO_POSTGRES = "DATABASE_URL is not set: no Postgres server to test against"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & {
            "redis_url",
            "redis_clean_url",
            "valkey_server",
            "plain_valkey_server",
            "plain_redis_url",
            "plain_redis_clean_url",
        }:
            item.add_marker(pytest.mark.redis)
        if "postgres_url" in fixtures:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[ValkeyServer]:
    """The Valkey server of this test run; a failed start shows the server's log."""
    server = ValkeyServer()
    try:
        server.start()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(valkey_server: ValkeyServer) -> str:
    """URL of the shared Valkey server (data from other tests may be present)."""
    return valkey_server.url


@pytest.fixture
def redis_clean_url(valkey_server: ValkeyServer) -> str:
    """URL of the shared Valkey server after FLUSHALL."""
    import redis

    if valkey_server.crashed():
        pytest.fail(f"the Valkey test server died. Log:\n{valkey_server.log()}", pytrace=False)
    client = redis.Redis.from_url(valkey_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return valkey_server.url


@pytest.fixture(scope="session")
def plain_valkey_server() -> Iterator[ValkeyServer]:
    """A second Valkey server WITHOUT modules: the plain Redis most teams run (Upstash,
    ElastiCache, Fly.io), for `redis-simple`, the event log and RQ."""
    server = ValkeyServer(modules=False)
    try:
        server.start()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plain_redis_url(plain_valkey_server: ValkeyServer) -> str:
    """URL of the shared Valkey server without modules."""
    return plain_valkey_server.url


@pytest.fixture
def plain_redis_clean_url(plain_valkey_server: ValkeyServer) -> str:
    """URL of the Valkey server without modules, after FLUSHALL."""
    import redis

    if plain_valkey_server.crashed():
        pytest.fail(
            f"the plain Valkey server died. Log:\n{plain_valkey_server.log()}", pytrace=False
        )
    client = redis.Redis.from_url(plain_valkey_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return plain_valkey_server.url


def postgres_test_url(environ: Mapping[str, str] = os.environ) -> str | None:
    """URL of the checkpoint test database, or None when DATABASE_URL is not set."""
    admin_url = environ.get("DATABASE_URL", "").strip()
    if not admin_url:
        return None
    return ensure_postgres_database(admin_url)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """postgresql:// URL of ``yamlgraph_test_checkpoints``; skips without DATABASE_URL."""
    url = postgres_test_url()
    if url is None:
        pytest.skip(NO_POSTGRES)
    return url


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On SQLite, test in a database *file* rather than Django's shared in-memory one.

    Threads in `transaction=True` tests (two resumes racing for one session) open their
    own connections. With the shared in-memory database SQLite locks per table and
    answers "database table is locked" at once instead of waiting; a file uses the
    normal busy timeout, as a deployed SQLite database does.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        test = database.setdefault("TEST", {})
        if not test.get("NAME"):
            test["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")
