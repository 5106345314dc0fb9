"""A real HTTP server that receives webhooks, for tests: http.server in a thread; and
what the webhook tests share (the Immediate task backend, the secret, the signature).

    with WebhookReceiver(fail_first=1) as receiver:
        start_session(..., webhook=receiver.url)
        receiver.accepted   # the POSTs it answered 204, as (headers, body bytes)
        receiver.refused    # those it answered 500 (the first `fail_first` of each delivery)
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import django

TASKS_MODULE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
#: TASKS running each task at once, in the process that enqueues it.
IMMEDIATE = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}
#: The WEBHOOK_SECRET the tests sign with.
SECRET = "s3cret"
#: What a local receiver needs: the URL policy refuses http:// (DEBUG is off in tests)
#: and loopback addresses unless the settings opt in.
LOCAL_RECEIVER = {"WEBHOOK_ALLOW_PRIVATE": True, "WEBHOOK_REQUIRE_HTTPS": False}


def signed(headers: dict[str, str], body: bytes) -> bool:
    """Does the POST carry the HMAC-SHA256 of its body with SECRET?"""
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("x-yamlgraph-signature", ""), expected)


class WebhookReceiver:
    """Answers the first `fail_first` POSTs of each delivery (the same body: a retry
    resends it) with 500, the rest with 204."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.accepted: list[tuple[dict[str, str], bytes]] = []
        self.refused: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self._seen: dict[bytes, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {key.lower(): value for key, value in self.headers.items()}
                self.send_response(receiver._answer(headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/session?token=t1"

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self._seen[body] = self._seen.get(body, 0) + 1
            if self._seen[body] <= self.fail_first:
                self.refused.append((headers, body))
                return 500
            self.accepted.append((headers, body))
            return 204

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
