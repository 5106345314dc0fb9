"""Webhooks delivered by the worker: one signed POST accepted per event, after retries.

A session started with `"webhook": URL` gets a POST of its session body on each
interrupted, completed and failed event, signed `X-Yamlgraph-Signature:
sha256=<hex HMAC-SHA256 of the body>` with YAMLGRAPH_WEBHOOK_SECRET, and retried with
backoff by a task on the worker when the receiver fails. The receiver here is a local
HTTP server that fails the first attempt at every event. It also checks the
`X-Yamlgraph-Event: session.<status>` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.multiprocess.conftest import WEBHOOK_SECRET, Engine
from tests.multiprocess.harness import wait_until

#: Attempts the receiver fails (503) at each event before it accepts one.
FAILURES_PER_EVENT = 1

EventKey = tuple[str, str, tuple[str, ...]]


class Receiver:
    """A webhook endpoint on a loopback port that records every POST it gets."""

    def __init__(self, secret: str, failures: int) -> None:
        self.secret, self.failures = secret.encode(), failures
        self.attempts: Counter[EventKey] = Counter()
        self.accepted: Counter[EventKey] = Counter()
        self.bad: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    status = receiver.receive(
                        body,
                        self.headers.get("X-Yamlgraph-Signature"),
                        self.headers.get("X-Yamlgraph-Event"),
                    )
                except Exception as exc:  # a bug here must fail the test, not time out
                    receiver.bad.append(f"receiver error {exc!r}")
                    status = 500
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def receive(self, body: bytes, signature: str | None, event: str | None) -> int:
        """The status to answer: 503 for an event's first attempts, then 200."""
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        with self.lock:
            if signature is None or not hmac.compare_digest(signature, expected):
                self.bad.append(f"bad signature {signature!r} for {body[:200]!r}")
                return 400
            try:
                session = json.loads(body)
                key = (
                    session["id"],
                    session["status"],
                    tuple(i["id"] for i in session.get("interrupts") or []),
                )
            except (ValueError, KeyError, TypeError) as exc:
                self.bad.append(f"not a session body ({exc!r}): {body[:200]!r}")
                return 400
            if event != f"session.{session['status']}":
                self.bad.append(f"X-Yamlgraph-Event {event!r} for a {session['status']} session")
            self.attempts[key] += 1
            if self.attempts[key] <= self.failures:
                return 503
            self.accepted[key] += 1
            return 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(WEBHOOK_SECRET, FAILURES_PER_EVENT)
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_each_event_is_posted_signed_and_accepted_exactly_once(
    engine: Engine, receiver: Receiver
) -> None:
    """Two questions, a completion and a failure: four events, each refused once by
    the receiver, retried, accepted exactly once, every attempt correctly signed."""
    started = engine.a.start("interview", {"topic": "hooks"}, webhook=receiver.url)
    assert started.status_code == 201, started.text
    session = started.json()
    expected = {(session["id"], "interrupted", (session["interrupts"][0]["id"],))}
    answered = engine.b.resume(session["id"], {"value": "Ada"})
    assert answered.status_code == 200, answered.text
    expected.add((session["id"], "interrupted", (answered.json()["interrupts"][0]["id"],)))
    completed = engine.b.resume(session["id"], {"value": "hooks that work"})
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    expected.add((session["id"], "completed", ()))
    failed = engine.a.start("mp_failing", {"tag": "hook"}, webhook=receiver.url)
    assert failed.status_code == 201 and failed.json()["status"] == "failed", failed.text
    expected.add((failed.json()["id"], "failed", ()))

    try:
        wait_until(
            lambda: set(receiver.accepted) >= expected or receiver.bad,
            f"each of {sorted(expected)} accepted",
            timeout=120,
            processes=[engine.worker],
            interval=0.2,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; attempts so far: {dict(receiver.attempts)}") from None
    time.sleep(5)  # a duplicate or a late retry would arrive by now
    assert receiver.bad == []
    assert set(receiver.attempts) == expected, dict(receiver.attempts)
    assert receiver.accepted == dict.fromkeys(expected, 1), dict(receiver.accepted)
    assert receiver.attempts == dict.fromkeys(expected, FAILURES_PER_EVENT + 1)
