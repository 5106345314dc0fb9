"""LangGraph's checkpointer conformance suite against DjangoSaver, sync and async.

The suite drives the async API only. The async run uses DjangoSaver's own
``a*`` methods; the sync run wraps the saver so that every call goes through
its sync methods (``put``, ``get_tuple``, ...), run in Django's sync thread as
a sync caller would. Both run on the test database: SQLite, or Postgres with
DATABASE_URL.

Extended capabilities (copy_thread, delete_for_runs, prune) are optional in
the suite and not implemented; it reports them as skipped, not failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES
from langgraph.checkpoint.conformance.report import CapabilityReport

from yamlgraph_django.checkpointer import DjangoSaver

pytestmark = pytest.mark.django_db(transaction=True)


class SyncMethodsOnly(BaseCheckpointSaver[str]):
    """The async API the suite calls, answered by a saver's sync methods.

    Each call runs in Django's sync thread (``sync_to_async``), as LangGraph's
    sync loop would call the saver from a worker thread.
    """

    def __init__(self, inner: BaseCheckpointSaver[str]) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    def get_next_version(self, current: str | None, channel: None = None) -> str:
        return self.inner.get_next_version(current, channel)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await sync_to_async(self.inner.get_tuple)(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        def collect() -> list[CheckpointTuple]:
            return list(self.inner.list(config, filter=filter, before=before, limit=limit))

        for item in await sync_to_async(collect)():
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await sync_to_async(self.inner.put)(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await sync_to_async(self.inner.put_writes)(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await sync_to_async(self.inner.delete_thread)(thread_id)


def counts(report: CapabilityReport) -> tuple[int, int]:
    """(tests passed, tests failed) over every capability the suite ran."""
    results = report.results.values()
    return sum(r.tests_passed for r in results), sum(r.tests_failed for r in results)


def check(report: CapabilityReport) -> None:
    """Fail with the suite's own failure messages; print the counts for the record."""
    passed, failed = counts(report)
    print(f"{report.checkpointer_name} on {connection.vendor}: {passed} passed, {failed} failed")
    failures = [
        f"{name}: {message}"
        for name, result in report.results.items()
        for message in result.failures
    ]
    assert not failures, "\n".join(failures)
    for capability in BASE_CAPABILITIES:
        assert report.results[capability.value].passed is True, capability.value
    assert passed > 0


async def test_conformance_async_methods() -> None:
    @checkpointer_test(name="DjangoSaver (async)")
    async def factory() -> AsyncIterator[BaseCheckpointSaver]:
        yield DjangoSaver()

    check(await validate(factory))


async def test_conformance_sync_methods() -> None:
    @checkpointer_test(name="DjangoSaver (sync)")
    async def factory() -> AsyncIterator[BaseCheckpointSaver]:
        yield SyncMethodsOnly(DjangoSaver())

    check(await validate(factory))
