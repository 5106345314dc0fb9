"""langgraph-checkpoint-conformance against every checkpointer type, sync and async.

The suite is async-only: async savers run as they are, sync savers through
sync_as_async(), a facade that runs each sync method in a worker thread.

Failures that belong to an upstream saver are listed by test name with their
cause in UPSTREAM_FAILURES, so both a new failure and a newly passing test
fail this file (and the README table gets updated).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import ProgressCallbacks

from tests.yamlgraph.storage.conftest import MODES, config_for
from yamlgraph.storage import aclose_checkpointer, close_checkpointer, get_checkpointer

# async method the suite calls -> sync method that implements it
ASYNC_TO_SYNC = {
    "aput": "put",
    "aput_writes": "put_writes",
    "aget_tuple": "get_tuple",
    "alist": "list",
    "adelete_thread": "delete_thread",
    "adelete_for_runs": "delete_for_runs",
    "acopy_thread": "copy_thread",
    "aprune": "prune",
}


def sync_as_async(inner: BaseCheckpointSaver) -> BaseCheckpointSaver:
    """An async facade over a sync saver; only the methods `inner` implements exist.

    The suite detects capabilities by which async methods a class overrides,
    so the facade class is built per saver type.
    """
    namespace: dict[str, Any] = {}
    for async_name, sync_name in ASYNC_TO_SYNC.items():
        if getattr(type(inner), sync_name) is getattr(BaseCheckpointSaver, sync_name):
            continue
        if async_name == "alist":

            async def alist(
                self: Any,
                config: Any,
                *,
                filter: dict[str, Any] | None = None,
                before: Any = None,
                limit: int | None = None,
            ) -> AsyncIterator[Any]:
                def collect() -> list[Any]:
                    return list(self.inner.list(config, filter=filter, before=before, limit=limit))

                for item in await asyncio.to_thread(collect):
                    yield item

            namespace["alist"] = alist
        else:
            namespace[async_name] = _threaded(sync_name)

    def __init__(self: Any, wrapped: BaseCheckpointSaver) -> None:
        BaseCheckpointSaver.__init__(self, serde=wrapped.serde)
        self.inner = wrapped

    namespace["__init__"] = __init__
    namespace["get_next_version"] = lambda self, current, channel: self.inner.get_next_version(
        current, channel
    )
    facade = type(f"SyncAsAsync[{type(inner).__name__}]", (BaseCheckpointSaver,), namespace)
    return facade(inner)


def _threaded(sync_name: str) -> Any:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.inner, sync_name), *args, **kwargs)

    method.__name__ = sync_name
    return method


# langgraph-checkpoint-redis 0.5.2: the same failures for RedisSaver and AsyncRedisSaver.
REDIS_UPSTREAM_FAILURES = {
    "list/test_list_by_namespace": (
        "list() treats checkpoint_ns='' (the root graph) as 'no namespace filter' "
        "(`if checkpoint_ns := ...`), so subgraph checkpoints are listed too"
    ),
    "list/test_list_multiple_namespaces": "same root-namespace filter bug as above",
    "list/test_list_before": (
        "`before` is parsed as a ULID, but LangGraph checkpoint ids are UUIDv6; the "
        "parse error is swallowed and `before` silently ignored"
    ),
    "list/test_list_limit_plus_before": "same `before` bug as above",
    "list/test_list_metadata_custom_keys": (
        "metadata filters only support the indexed keys source/step/thread_id/run_id "
        "(ValueError: Unsupported filter key)"
    ),
    "prune/test_prune_keep_latest_across_namespaces": (
        "prune keeps the right checkpoints, but listing the root namespace to check it "
        "hits the root-namespace filter bug"
    ),
    "prune/test_prune_empty_list_noop": (
        "prune([]) raises ValueError('thread_ids must be a non-empty sequence') instead "
        "of doing nothing"
    ),
}

UPSTREAM_FAILURES: dict[str, dict[str, str]] = {
    "memory": {},
    "sqlite": {},
    "redis": REDIS_UPSTREAM_FAILURES,
    "postgres": {},
    # langgraph-checkpoint-plainredis passes every base test on a Redis without modules.
    "redis-simple": {},
}

# Tests passed per type (sync and async alike). The suite has 58 base tests
# (put 17, put_writes 10, get_tuple 10, list 16, delete_thread 5) plus 8 for
# prune, which only the Redis and Postgres savers implement; none of the
# savers implements delete_for_runs or copy_thread.
EXPECTED_PASSED = {"memory": 58, "sqlite": 58, "redis": 59, "postgres": 66, "redis-simple": 58}

TYPES = [
    "memory",
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis-simple", marks=pytest.mark.redis),
]


@pytest.fixture
def conformance_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    kind = request.param
    if kind == "redis":
        # Tests that list across threads must not see other tests' data.
        yield {"type": "redis", "url": request.getfixturevalue("redis_clean_url")}
    elif kind == "redis-simple":
        # On a Valkey started without modules: plain Redis.
        yield {"type": "redis-simple", "url": request.getfixturevalue("plain_redis_clean_url")}
    else:
        yield config_for(kind, request, tmp_path)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("conformance_config", TYPES, indirect=True)
async def test_conformance(conformance_config: dict[str, Any], mode: str) -> None:
    kind = conformance_config["type"]

    async def factory() -> AsyncIterator[BaseCheckpointSaver]:
        if mode == "async":
            saver = get_checkpointer(conformance_config, async_mode=True)
            try:
                yield saver
            finally:
                await aclose_checkpointer(saver)
        else:
            saver = get_checkpointer(conformance_config)
            try:
                yield sync_as_async(saver)
            finally:
                close_checkpointer(saver)

    registered = checkpointer_test(name=f"yamlgraph-{kind}-{mode}")(factory)
    passed: list[str] = []
    failed: dict[str, str] = {}

    def on_result(capability: str, test: str, ok: bool, error: str | None) -> None:
        name = f"{capability}/{test}"
        if ok:
            passed.append(name)
        else:
            failed[name] = (error or "").strip().splitlines()[-1] if error else ""

    report = await validate(registered, progress=ProgressCallbacks(on_test_result=on_result))

    assert set(failed) == set(UPSTREAM_FAILURES[kind]), failed
    assert len(passed) == EXPECTED_PASSED[kind]
    detected = {name for name, result in report.results.items() if result.detected}
    assert {"put", "put_writes", "get_tuple", "list", "delete_thread"} <= detected
    assert report.passed_all_base() is (kind != "redis")
