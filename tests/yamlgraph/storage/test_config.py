"""The checkpointer block: types, ${VAR} expansion, and the errors a user sees."""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from tests.servers import ValkeyServer
from yamlgraph.storage import (
    CheckpointerConfigError,
    CheckpointerUnavailable,
    checkpointer,
    checkpointer_type,
    checkpointer_types,
    close_checkpointer,
    expand_env,
    get_checkpointer,
    mask_url,
    register_checkpointer,
)

GRAPH = "graphs/interview.yaml"


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released by us)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- ${VAR} expansion -----------------------------------------------------------


def test_expand_env_replaces_variables_in_every_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PASSWORD", "s3cret")
    block = {
        "type": "redis",
        "url": "redis://app:${REDIS_PASSWORD}@${REDIS_HOST}:6379/0",
        "ttl": 30,
        "extra": ["${REDIS_HOST}", {"nested": "${REDIS_HOST}"}],
    }
    assert expand_env(block) == {
        "type": "redis",
        "url": "redis://app:s3cret@cache.internal:6379/0",
        "ttl": 30,
        "extra": ["cache.internal", {"nested": "cache.internal"}],
    }


def test_expand_env_defaults_apply_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YG_UNSET", raising=False)
    monkeypatch.setenv("YG_EMPTY", "")
    monkeypatch.setenv("YG_SET", "from-env")
    assert expand_env("${YG_UNSET:-./sessions.db}") == "./sessions.db"
    assert expand_env("${YG_EMPTY:-fallback}") == "fallback"
    assert expand_env("${YG_SET:-fallback}") == "from-env"
    assert expand_env("${YG_UNSET:-}") == ""


def test_unset_variable_without_default_names_variable_and_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("YG_REDIS_URL", raising=False)
    with pytest.raises(CheckpointerConfigError) as info:
        get_checkpointer({"type": "redis", "url": "${YG_REDIS_URL}"}, source=GRAPH)
    message = str(info.value)
    assert "YG_REDIS_URL" in message
    assert GRAPH in message
    assert isinstance(info.value, ValueError)


def test_expanded_block_selects_the_type(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("YG_CHECKPOINTER", "sqlite")
    monkeypatch.setenv("YG_DB", str(tmp_path / "data" / "s.db"))
    saver = get_checkpointer({"type": "${YG_CHECKPOINTER}", "path": "${YG_DB}"})
    try:
        assert type(saver).__name__ == "SqliteSaver"
        assert (tmp_path / "data" / "s.db").exists()  # parent directory created
    finally:
        close_checkpointer(saver)


# --- types ----------------------------------------------------------------------


def test_string_and_none_mean_memory() -> None:
    assert isinstance(get_checkpointer("memory"), InMemorySaver)
    assert isinstance(get_checkpointer(" Memory "), InMemorySaver)
    assert isinstance(get_checkpointer(None), InMemorySaver)
    assert isinstance(get_checkpointer({"type": "memory"}, async_mode=True), InMemorySaver)
    assert checkpointer_type("memory") == "memory"
    assert checkpointer_type({"type": "Redis", "url": "x"}) == "redis"
    assert checkpointer_type(None) == "memory"


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        get_checkpointer({"type": "mongo"}, source=GRAPH)
    message = str(info.value)
    assert "'mongo'" in message
    assert "memory, postgres, redis, redis-simple, sqlite" in message
    assert GRAPH in message
    assert isinstance(info.value, CheckpointerConfigError)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"path": "x.db"}, "needs a 'type'"),
        ({"type": "sqlite"}, "needs 'path'"),
        ({"type": "redis"}, "needs 'url'"),
        ({"type": "postgres", "url": ""}, "needs 'url'"),
        ({"type": "redis", "url": "redis://localhost", "tll": 5}, "unknown option(s) 'tll'"),
        ({"type": "memory", "path": "x"}, "unknown option(s) 'path'"),
        ({"type": "redis", "url": "redis://localhost", "ttl": "soon"}, "number of minutes"),
        ({"type": "redis", "url": "redis://localhost", "ttl": -1}, "number of minutes"),
        ({"type": "redis", "url": "localhost:6379"}, "invalid Redis url 'localhost:6379'"),
        ({"type": "postgres", "url": "db.internal"}, "invalid Postgres url 'db.internal'"),
        (["memory"], "must be a mapping"),
    ],
)
def test_bad_blocks_are_config_errors(block: Any, expected: str) -> None:
    with pytest.raises(CheckpointerConfigError) as info:
        get_checkpointer(block, source=GRAPH)
    assert expected in str(info.value)
    assert str(info.value).startswith(f"{GRAPH}: ")


def test_register_checkpointer_adds_a_type() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def sync_factory(config: dict[str, Any]) -> InMemorySaver:
        calls.append(("sync", config))
        return InMemorySaver()

    def async_factory(config: dict[str, Any]) -> InMemorySaver:
        calls.append(("async", config))
        return InMemorySaver()

    register_checkpointer("Custom", sync_factory, async_factory)
    try:
        assert "custom" in checkpointer_types()
        get_checkpointer({"type": "custom", "opt": "${YG_UNSET_OPT:-v}"})
        get_checkpointer("CUSTOM", async_mode=True)
        assert calls == [
            ("sync", {"type": "custom", "opt": "v"}),
            ("async", {"type": "custom"}),
        ]
    finally:
        from yamlgraph.storage import _REGISTRY

        _REGISTRY.pop("custom", None)


def test_config_error_from_a_registered_factory_names_the_file() -> None:
    def factory(config: dict[str, Any]) -> InMemorySaver:
        raise CheckpointerConfigError("needs 'database'")

    register_checkpointer("needy", factory, factory)
    try:
        with pytest.raises(CheckpointerConfigError, match=f"^{GRAPH}: needs 'database'$"):
            get_checkpointer("needy", source=GRAPH)
    finally:
        from yamlgraph.storage import _REGISTRY

        _REGISTRY.pop("needy", None)


# --- missing packages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "module", "package"),
    [
        ("redis", "langgraph.checkpoint.redis", "langgraph-checkpoint-redis"),
        ("postgres", "langgraph.checkpoint.postgres", "langgraph-checkpoint-postgres"),
        ("sqlite", "langgraph.checkpoint.sqlite", "langgraph-checkpoint-sqlite"),
    ],
)
@pytest.mark.parametrize("async_mode", [False, True])
def test_missing_package_names_pip_package(
    monkeypatch: pytest.MonkeyPatch, kind: str, module: str, package: str, async_mode: bool
) -> None:
    # None in sys.modules makes `import module` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, module, None)
    if kind == "sqlite":
        monkeypatch.setitem(sys.modules, module + ".aio", None)
    block = {"type": kind, "url": "redis://127.0.0.1:1", "path": "x.db"}
    block = {k: v for k, v in block.items() if k != ("path" if kind != "sqlite" else "url")}
    if kind == "postgres":
        block["url"] = "postgresql://127.0.0.1:1/x"
    with pytest.raises(CheckpointerConfigError) as info:
        get_checkpointer(block, async_mode=async_mode, source=GRAPH)
    assert f"pip install {package}" in str(info.value)


def test_async_sqlite_without_aiosqlite_falls_back_to_memory_with_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    monkeypatch.setitem(sys.modules, "aiosqlite", None)
    with caplog.at_level(logging.WARNING, logger="yamlgraph.storage"):
        saver = get_checkpointer({"type": "sqlite", "path": str(tmp_path / "s.db")}, True)
    assert isinstance(saver, InMemorySaver)
    assert "aiosqlite is not installed" in caplog.text
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_sync_sqlite_never_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    monkeypatch.setitem(sys.modules, "aiosqlite", None)
    with checkpointer({"type": "sqlite", "path": str(tmp_path / "s.db")}) as saver:
        assert type(saver).__name__ == "SqliteSaver"
    assert caplog.records == []


@pytest.mark.parametrize("async_mode", [False, True])
def test_unusable_sqlite_path_is_a_config_error(tmp_path: Any, async_mode: bool) -> None:
    with pytest.raises(CheckpointerConfigError) as info:
        get_checkpointer({"type": "sqlite", "path": str(tmp_path)}, async_mode, source=GRAPH)
    assert f"cannot use SQLite database {str(tmp_path)!r}" in str(info.value)
    assert GRAPH in str(info.value)


# --- unreachable servers ------------------------------------------------------------


def test_mask_url_hides_passwords_only() -> None:
    assert mask_url("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert mask_url("redis://:pw@host:6379") == "redis://:***@host:6379"
    assert mask_url("redis://host:6379") == "redis://host:6379"
    assert mask_url("postgresql://u:p%40ss@db/app?sslmode=require") == (
        "postgresql://u:***@db/app?sslmode=require"
    )
    assert mask_url("host=db user=u password=secret dbname=x") == (
        "host=db user=u password=*** dbname=x"
    )


@pytest.mark.parametrize("async_mode", [False, True])
def test_unreachable_redis_is_unavailable_with_masked_url(async_mode: bool) -> None:
    port = closed_port()
    with pytest.raises(CheckpointerUnavailable) as info:
        get_checkpointer(
            {"type": "redis", "url": f"redis://app:hunter2@127.0.0.1:{port}/0"},
            async_mode=async_mode,
        )
    message = str(info.value)
    assert f"redis://app:***@127.0.0.1:{port}/0" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("async_mode", [False, True])
def test_unreachable_postgres_is_unavailable_with_masked_url(async_mode: bool) -> None:
    port = closed_port()
    with pytest.raises(CheckpointerUnavailable) as info:
        get_checkpointer(
            {"type": "postgres", "url": f"postgresql://app:hunter2@127.0.0.1:{port}/app"},
            async_mode=async_mode,
            source=GRAPH,
        )
    message = str(info.value)
    assert message.startswith(f"{GRAPH}: cannot reach Postgres at ")
    assert f"postgresql://app:***@127.0.0.1:{port}/app" in message
    assert "hunter2" not in message


@pytest.mark.redis
@pytest.mark.parametrize("async_mode", [False, True])
def test_redis_without_search_modules_says_so(async_mode: bool) -> None:
    with ValkeyServer(modules=False) as plain, pytest.raises(CheckpointerUnavailable) as info:
        get_checkpointer({"type": "redis", "url": plain.url}, async_mode=async_mode)
    assert "lacks the RedisJSON and RediSearch modules" in str(info.value)
