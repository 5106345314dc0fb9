"""LangGraph's checkpointer conformance suite against DjangoSaver, sync and async.

The suite drives the async API only. The async run uses DjangoSaver's own
``a*`` methods; the sync run goes through the storage tests' sync_as_async()
facade, which calls the sync methods (``put``, ``get_tuple``, ...) from worker
threads, as LangGraph's sync loop does. Both run on the test database: SQLite,
or Postgres with DATABASE_URL.

Extended capabilities (copy_thread, delete_for_runs, prune) are optional in
the suite and not implemented; it reports them as skipped, not failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from django.db import connection
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES
from langgraph.checkpoint.conformance.report import CapabilityReport

from tests.yamlgraph.storage.test_conformance import sync_as_async
from yamlgraph_django.checkpointer import DjangoSaver

pytestmark = pytest.mark.django_db(transaction=True)


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
        yield sync_as_async(DjangoSaver())

    check(await validate(factory))
