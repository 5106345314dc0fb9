"""Background runs on RQ: the same deployment with YAMLGRAPH_TASKS_URL=redis://... only.

Issue 12 asks that an RQ/Redis task backend work by changing TASKS alone: this
deployment keeps SQLite for metadata, checkpoints and the event log, and sends tasks to
RQ (database 1 of the Valkey test server started WITHOUT modules: RQ needs only plain
Redis, as most managed Redis services are), worked by the same `manage.py yamlgraph
worker` (which starts `rqworker` then).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.multiprocess.conftest import LEASE_SECONDS, deploy_or_fail, start_or_fail
from tests.multiprocess.harness import Api, AppServer, Deployment, Worker


@pytest.fixture(scope="module")
def rq(
    plain_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Deployment, AppServer, Worker]]:
    """uvicorn and one worker on SQLite files, with tasks on RQ on a plain Redis."""
    deployment = deploy_or_fail(
        "rq",
        Path(tmp_path_factory.mktemp("rq")),
        tasks="redis",
        redis_url=plain_redis_url,
        lease_seconds=LEASE_SECONDS,
    )

    def start() -> tuple[Deployment, AppServer, Worker]:
        return deployment, deployment.uvicorn(name="rq-server"), deployment.worker(name="rq-worker")

    processes = start_or_fail(deployment, start)
    try:
        yield processes
    finally:
        deployment.close()


def test_a_background_session_runs_on_an_rq_worker(
    rq: tuple[Deployment, AppServer, Worker],
) -> None:
    """Start and answer in the background: RQ's worker runs both runs, the stream shows
    them, the session completes with the answers and the Run rows succeeded."""
    deployment, server, worker = rq
    api = Api(server, deployment.tokens["alice"])
    started = api.start("interview", {"topic": "rq"}, background=True)
    assert started.status_code == 202 and started.json()["status"] == "pending", started.text
    session = started.json()["id"]
    first = api.read_stream(session)
    assert [e.data["status"] for e in first if e.event == "end"] == ["interrupted"]
    for answer in ("Ada", "queues"):
        queued = api.resume(session, {"value": answer, "background": True})
        assert queued.status_code == 202, queued.text
        api.wait_status(session, {"interrupted", "completed", "failed"}, processes=[worker])
    body = api.get(session).json()
    assert body["status"] == "completed", body
    assert (body["values"]["name"], body["values"]["goal"]) == ("Ada", "queues")
    runs = deployment.runs(session)
    assert [(r["kind"], r["status"]) for r in runs] == [
        ("start", "succeeded"),
        ("resume", "succeeded"),
        ("resume", "succeeded"),
    ], runs
    assert "rqworker" in worker.log(), worker.log()
