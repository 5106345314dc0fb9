"""A cron fires each occurrence once, however many workers look for due crons: two
`manage.py yamlgraph worker` processes on one SQLite deployment, both ticking every
0.2 s, race for an every-minute cron made with LangGraph's Python SDK (through uvicorn's
/lg/) and made due now (its next_run_at set to the past), twice. Each run's thread
records the occurrence it fired for: no occurrence twice (a minute boundary during the
test adds its own, once)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from tests.multiprocess.conftest import LEASE_SECONDS, deploy_or_fail, start_or_fail
from tests.multiprocess.harness import AppServer, Deployment, Worker


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, AppServer, Worker, Worker]]:
    deployment = deploy_or_fail(
        "crons",
        Path(tmp_path_factory.mktemp("crons")),
        lease_seconds=LEASE_SECONDS,
        settings={"YAMLGRAPH_CRON_POLL_SECONDS": "0.2"},
    )

    def start() -> tuple[Deployment, AppServer, Worker, Worker]:
        server = deployment.uvicorn(name="crons-server")
        first = deployment.worker(name="crons-worker-1")
        second = deployment.worker(name="crons-worker-2")
        return deployment, server, first, second

    processes = start_or_fail(deployment, start)
    try:
        yield processes
    finally:
        deployment.close()


def cron_runs(deployment: Deployment, cron_id: str) -> list[tuple]:
    rows = deployment.database.query("SELECT s.status, s.metadata FROM yamlgraph_django_session s")
    return [r for r in rows if json.loads(r[1]).get("cron_id") == cron_id]


def test_a_due_cron_fires_once_across_two_workers(
    two_workers: tuple[Deployment, AppServer, Worker, Worker],
) -> None:
    deployment, server, first, second = two_workers
    headers = {"Authorization": f"Token {deployment.tokens['alice']}"}
    sdk = get_sync_client(url=f"{server.url}/lg", api_key=None, headers=headers)
    made = sdk.crons.create(
        "interview", schedule="* * * * *", input={"topic": "cron"}, on_run_completed="keep"
    )
    cron_id = made["cron_id"]
    cron_hex = cron_id.replace("-", "")
    make_due = (
        "import datetime as dt; from django.utils import timezone; "
        "from yamlgraph_django.store_models import Cron; "
        f"Cron.objects.filter(pk='{cron_id}')"
        ".update(next_run_at=timezone.now() - dt.timedelta(seconds=1))"
    )
    for occurrence in (1, 2):
        deployment.django(make_due)
        deadline = time.monotonic() + 30
        while len(cron_runs(deployment, cron_id)) < occurrence and time.monotonic() < deadline:
            first.check_alive()
            second.check_alive()
            time.sleep(0.2)
        time.sleep(2.0)  # both workers tick ten more times: neither fires it again
        runs = cron_runs(deployment, cron_id)
        slots = [json.loads(meta)["cron_occurrence"] for _status, meta in runs]
        assert len(slots) >= occurrence, runs
        assert len(set(slots)) == len(slots), slots  # never one occurrence twice
    # Each run asked the interview's first question (it ran on a worker); the SDK sees
    # one thread an occurrence.
    assert {status for status, _meta in cron_runs(deployment, cron_id)} == {"interrupted"}
    threads = sdk.threads.search(metadata={"cron_id": cron_id}, limit=100)
    assert len(threads) == len(cron_runs(deployment, cron_id))
    assert {thread["status"] for thread in threads} == {"interrupted"}
    [listed] = sdk.crons.search(assistant_id="interview")
    assert listed["cron_id"] == cron_id and listed["next_run_date"]
    next_run = deployment.database.query(
        "SELECT next_run_at FROM yamlgraph_django_cron WHERE cron_id = %s", (cron_hex,)
    )[0][0]
    assert next_run is not None  # moved on to the next minute
