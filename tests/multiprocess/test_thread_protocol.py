"""The thread-scoped protocol on a deployment: uvicorn (ASGI) and a worker on SQLite.
A client makes a thread id up and starts a run with `run.start`; the worker runs it; one
`stream/events` connection, held open, shows the question on `input`, and then the
next run (started by `input.respond`) on the same connection; a second stream opened
with `since` resumes after the seq it gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.multiprocess.conftest import LEASE_SECONDS, deploy_or_fail, start_or_fail
from tests.multiprocess.harness import AppServer, Deployment, Worker

JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="module")
def asgi(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, AppServer, Worker]]:
    deployment = deploy_or_fail(
        "thread-protocol",
        Path(tmp_path_factory.mktemp("thread-protocol")),
        lease_seconds=LEASE_SECONDS,
    )

    def start() -> tuple[Deployment, AppServer, Worker]:
        return deployment, deployment.uvicorn(name="tp-server"), deployment.worker(name="tp-worker")

    processes = start_or_fail(deployment, start)
    try:
        yield processes
    finally:
        deployment.close()


def events_of(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])


def until_stop(events: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events up to the run's terminal lifecycle event."""
    seen = []
    for event in events:
        seen.append(event)
        data = event["params"]["data"]
        if event["method"] == "lifecycle" and data["event"] in (
            "interrupted",
            "completed",
            "failed",
        ):
            return seen
    raise AssertionError(f"the stream ended before the run did: {seen}")


def test_one_stream_follows_a_thread_across_runs_on_a_worker(
    asgi: tuple[Deployment, AppServer, Worker],
) -> None:
    deployment, server, worker = asgi
    headers = {"Authorization": f"Token {deployment.tokens['alice']}"}
    thread = str(uuid.uuid4())
    base = f"{server.url}/lg/threads/{thread}"
    with httpx.Client(headers=headers, timeout=httpx.Timeout(60, connect=10)) as client:
        started = client.post(
            f"{base}/commands",
            json={
                "id": 1,
                "method": "run.start",
                "params": {"assistant_id": "interview", "input": {}},
            },
        )
        assert started.status_code == 200, started.text
        assert started.json()["type"] == "success"
        wanted = {"channels": ["lifecycle", "input", "values"]}
        with client.stream("POST", f"{base}/stream/events", json=wanted) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = events_of(response)
            first = until_stop(events)
            asked = [e["params"]["data"] for e in first if e["method"] == "input.requested"]
            assert [a["payload"] for a in asked] == ["Hi! What is your name?"]
            worker.check_alive()

            answered = client.post(
                f"{base}/commands",
                json={
                    "id": 2,
                    "method": "input.respond",
                    "params": {
                        "namespace": [],
                        "interrupt_id": asked[0]["interrupt_id"],
                        "response": "Ada",
                    },
                },
            )
            assert answered.json() == {"type": "success", "id": 2, "result": {}}, answered.text
            second = until_stop(events)  # the same connection, the next run
            assert second[0]["params"]["data"]["event"] == "running"
            questions = [
                e["params"]["data"]["payload"] for e in second if e["method"] == "input.requested"
            ]
            assert questions == ["Thanks Ada. What do you want to achieve with your project?"]

        since = first[-1]["seq"]
        with client.stream(
            "POST", f"{base}/stream/events", json={**wanted, "since": since}
        ) as resumed:
            again = until_stop(events_of(resumed))
        assert [e["event_id"] for e in again] == [e["event_id"] for e in second]


def test_the_js_sdk_over_websocket(asgi: tuple[Deployment, AppServer, Worker]) -> None:
    """`client.threads.stream(id, {transport: "websocket"})` of the JS SDK: commands and
    events on one socket (uvicorn serves it; the token rides in the URL)."""
    deployment, server, _worker = asgi
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk").is_dir():
        pytest.skip("node or tests/js/node_modules is missing: run `make js`")
    env = {**os.environ, "LG_URL": f"{server.url}/lg", "LG_TOKEN": deployment.tokens["alice"]}
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        env.pop(name, None)
    result = subprocess.run(
        [node, "--experimental-websocket", "--test", "thread_socket.test.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 2" in result.stdout, result.stdout
