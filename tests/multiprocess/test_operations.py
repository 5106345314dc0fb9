"""Operating it, with real processes: workers' heartbeats, a run queued while no worker
runs (reported, then run once one starts), a worker killed with kill -9 (its task row
settled by the next worker's sweeper), and /metrics adding up several gunicorn workers.

One deployment of its own: SQLite everything, gunicorn with 2 workers, metrics on in
prometheus-client's multiprocess mode (a directory shared by every process), heartbeats
every 0.5 s, a worker dead after 3 s without one, lease 3 s.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.multiprocess.conftest import deploy_or_fail, start_or_fail
from tests.multiprocess.harness import USERS, Api, AppServer, Deployment, wait_until

STALE_SECONDS = 3.0


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, AppServer]]:
    root = tmp_path_factory.mktemp("ops")
    metrics_dir = root / "prometheus"
    metrics_dir.mkdir()
    deployment = deploy_or_fail(
        "ops",
        root,
        lease_seconds=3.0,
        settings={
            "YAMLGRAPH_METRICS": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "YAMLGRAPH_WORKER_HEARTBEAT_SECONDS": "0.5",
            "YAMLGRAPH_WORKER_STALE_SECONDS": str(STALE_SECONDS),
        },
    )
    server = start_or_fail(deployment, lambda: deployment.gunicorn(workers=2))
    try:
        yield deployment, server
    finally:
        deployment.close()


def api_of(ops: tuple[Deployment, AppServer]) -> Api:
    deployment, server = ops
    return Api(server, deployment.tokens[USERS[0]])


def health(server: AppServer) -> httpx.Response:
    return httpx.get(f"{server.url}/api/health/", timeout=30)


def stop_workers(deployment: Deployment) -> None:
    for process in [p for p in deployment.processes if p.name.startswith("ops-worker")]:
        process.stop()
        deployment.processes.remove(process)


def heartbeats(deployment: Deployment) -> list[tuple[Any, ...]]:
    return deployment.database.query("SELECT worker_id, pid FROM yamlgraph_django_workerheartbeat")


def test_a_run_queued_without_a_worker_says_so_then_runs_when_one_starts(ops) -> None:
    deployment, server = ops
    stop_workers(deployment)
    api = api_of(ops)
    tag = deployment.new_tag("queued")

    started = api.start("mp_steps", {"tag": tag}, background=True)
    assert started.status_code == 202, started.text
    session = started.json()["id"]
    time.sleep(1)
    waiting = api.get(session).json()
    assert waiting["status"] == "pending"
    assert "manage.py yamlgraph worker" in waiting["waiting_for_worker"]["detail"]
    down = health(server)
    assert down.status_code == 503 and down.json()["checks"]["worker"]["status"] == "down"

    # A LangGraph client joining a queued run gets JSON at once, not gunicorn's timeout.
    lg = {"Authorization": api.headers["Authorization"]}
    thread = httpx.post(f"{server.url}/lg/threads", json={}, headers=lg, timeout=30).json()
    run = httpx.post(
        f"{server.url}/lg/threads/{thread['thread_id']}/runs",
        json={"assistant_id": "mp_steps", "input": {"tag": deployment.new_tag("lg")}},
        headers=lg,
        timeout=30,
    ).json()
    asked = time.monotonic()
    joined = httpx.get(
        f"{server.url}/lg/threads/{thread['thread_id']}/runs/{run['run_id']}/join",
        headers=lg,
        timeout=60,
    )
    assert time.monotonic() - asked < 10
    assert joined.status_code == 503 and joined.json()["code"] == "no_worker", joined.text

    worker = deployment.worker(name="ops-worker-a")
    done = api.wait_status(session, {"interrupted"}, timeout=90, processes=[worker, server])
    assert done["waiting_for_worker"] is None
    rejoined = httpx.get(
        f"{server.url}/lg/threads/{thread['thread_id']}/runs/{run['run_id']}/join",
        headers=lg,
        timeout=60,
    )
    assert rejoined.status_code == 200 and rejoined.json()["__interrupt__"], rejoined.text
    assert [pid for _id, pid in heartbeats(deployment)] == [worker.pid]
    up = health(server)
    assert up.status_code == 200, up.json()
    assert up.json()["checks"]["worker"]["alive"] == 1


def test_a_worker_killed_mid_task_is_settled_by_the_next_ones_sweeper(ops) -> None:
    deployment, server = ops
    stop_workers(deployment)
    api = api_of(ops)
    victim = deployment.worker(name="ops-worker-victim")
    tag = deployment.new_tag("killed")
    started = api.start("mp_steps", {"tag": tag, "second_seconds": 120}, background=True)
    assert started.status_code == 202, started.text
    pid = wait_until(
        lambda: deployment.started_pid(tag, "second"),
        "the held step starting on the worker",
        processes=[victim],
    )
    assert pid == victim.pid  # db_worker runs the task in the worker process
    [(task_id, status)] = deployment.database.query(
        "SELECT id, status FROM django_tasks_database_dbtaskresult WHERE status = 'RUNNING'"
    )
    victim.kill_group(signal.SIGKILL)
    victim.stop()
    deployment.processes.remove(victim)
    deployment.release(tag, "second")  # the re-run may finish the step at once

    successor = deployment.worker(name="ops-worker-b")
    settled = wait_until(
        lambda: (
            deployment.database.query(
                "SELECT status, traceback FROM django_tasks_database_dbtaskresult WHERE id = %s",
                (task_id,),
            )[0]
            if deployment.database.query(
                "SELECT status FROM django_tasks_database_dbtaskresult WHERE id = %s", (task_id,)
            )[0][0]
            != "RUNNING"
            else None
        ),
        "the dead worker's task row being settled",
        timeout=60,
        processes=[successor, server],
    )
    assert settled[0] == "FAILED"
    assert "stopped before the task finished" in settled[1]
    body = api.wait_status(
        started.json()["id"], {"interrupted"}, timeout=90, processes=[successor, server]
    )
    assert body["status"] == "interrupted"  # the session itself was re-run from its checkpoint


def scrape(server: AppServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_add_up_every_gunicorn_worker(ops) -> None:
    deployment, server = ops
    api = api_of(ops)
    key = ("yamlgraph_runs_started_total", (("graph", "mp_steps"), ("kind", "start")))
    before = scrape(server).get(key, 0.0)
    sessions = []
    for _ in range(6):  # sync runs: each in whichever gunicorn worker takes the request
        response = api.start("mp_steps", {"tag": deployment.new_tag("count")})
        assert response.status_code == 201, response.text
        sessions.append(response.json()["id"])
    answered = api.resume(sessions[0], {"value": "yes"})
    assert answered.status_code == 200, answered.text

    files = set()
    for _ in range(8):  # every scrape, whichever worker answers it, sees all six
        samples = scrape(server)
        assert samples.get(key, 0.0) - before == 6
        files.update(Path(deployment.root / "prometheus").glob("*.db"))
    resumes = ("yamlgraph_runs_started_total", (("graph", "mp_steps"), ("kind", "resume")))
    assert samples[resumes] >= 1
    assert samples[("yamlgraph_questions_open", (("graph", "mp_steps"),))] >= 6
    assert len(files) >= 2  # more than one process wrote metrics
