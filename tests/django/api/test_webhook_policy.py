"""Where a webhook may point: the server must never be made to POST into its own
network. Loopback, private and link-local targets (in every spelling, and by a host
name that resolves to one) are refused with a 400 naming `webhook`, before anything is
stored; https is required without DEBUG; an allow-list narrows the hosts; and no
webhook is accepted while WEBHOOK_SECRET is empty (the calls could not be signed)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import override_settings

from tests.django.api.support import assert_error
from yamlgraph_django.models import Session
from yamlgraph_django.services.webhooks import post

pytestmark = pytest.mark.django_db

SECRET = "policy-secret"


@pytest.fixture
def policy(yamlgraph_settings):
    """policy(**overrides): YAMLGRAPH with a secret, http allowed, private refused."""

    def apply(**overrides):
        value = {
            **yamlgraph_settings,
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_REQUIRE_HTTPS": False,
            **overrides,
        }
        return override_settings(YAMLGRAPH=value)

    return apply


def start_with(api, url):
    return api.post("/api/sessions/", {"graph": "interview", "webhook": url}, format="json")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://localhost:8000/admin/",
        "http://0.0.0.0/",
        "http://10.0.0.1/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_loopback_private_and_link_local_targets_are_refused(api, policy, url):
    with policy():
        response = start_with(api, url)

    body = assert_error(response, 400, "invalid_input")
    assert "webhook" in body["errors"]
    assert "loopback, private or link-local" in body["detail"]
    assert not Session.objects.exists()


def test_a_host_name_that_resolves_to_loopback_is_refused(api, policy):
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if not any(a.startswith("127.") or a == "::1" for a in addresses):
        pytest.skip(f"{name!r} resolves to {addresses}, not to loopback")
    with policy():
        response = start_with(api, f"http://{name}:9/hook")

    body = assert_error(response, 400, "invalid_input")
    assert "webhook" in body["errors"] and name in body["detail"]


def test_an_unresolvable_host_is_refused(api, policy):
    with policy():
        response = start_with(api, "http://no-such-host.invalid/hook")
    assert "does not resolve" in assert_error(response, 400, "invalid_input")["detail"]


def test_http_is_refused_without_debug(api, policy):
    with policy(WEBHOOK_REQUIRE_HTTPS=None, WEBHOOK_ALLOW_PRIVATE=True):
        response = start_with(api, "http://127.0.0.1:9/hook")
    body = assert_error(response, 400, "invalid_input")
    assert "https://" in body["errors"]["webhook"][0]


def test_the_allow_list_names_the_hosts(api, policy):
    with policy(WEBHOOK_ALLOWED_HOSTS=["hooks.example.com", "*.corp.example"]):
        refused = start_with(api, "http://evil.example.net/hook")
        apex = start_with(api, "http://corp.example/hook")
    assert "WEBHOOK_ALLOWED_HOSTS" in assert_error(refused, 400, "invalid_input")["detail"]
    assert "WEBHOOK_ALLOWED_HOSTS" in assert_error(apex, 400, "invalid_input")["detail"]
    with policy(WEBHOOK_ALLOWED_HOSTS=["localhost"], WEBHOOK_ALLOW_PRIVATE=True):
        assert start_with(api, "http://localhost:9/hook").status_code == 201


def test_the_opt_in_setting_lets_a_local_receiver_in(api, policy):
    with policy(WEBHOOK_ALLOW_PRIVATE=True):
        response = start_with(api, "http://127.0.0.1:9/hook")
    assert response.status_code == 201, response.json()


def test_no_webhook_is_taken_without_a_secret(api, policy):
    with policy(WEBHOOK_SECRET="", WEBHOOK_ALLOW_PRIVATE=True):
        response = start_with(api, "http://127.0.0.1:9/hook")
    body = assert_error(response, 400, "invalid_input")
    assert "WEBHOOK_SECRET" in body["errors"]["webhook"][0]


def test_the_lg_door_refuses_them_too(alice, client_for, graphs, policy):
    client = client_for(alice)
    with policy():
        thread = client.post("/lg/threads", {}, format="json").json()
        response = client.post(
            f"/lg/threads/{thread['thread_id']}/runs/wait",
            {"assistant_id": "interview", "input": {}, "webhook": "http://169.254.169.254/"},
            format="json",
        )
    assert response.status_code == 400 and "webhook" in response.content.decode()


class _Receiver(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_delivery_checks_the_address_again_when_it_connects(policy):
    """A URL stored while private targets were allowed (or a DNS answer that changed)
    is not POSTed to once the policy refuses it: the connection itself is vetted."""
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with policy():
            refused = post(url, "session.completed", b"{}")
        with policy(WEBHOOK_ALLOW_PRIVATE=True):
            delivered = post(url, "session.completed", b"{}")
    finally:
        server.shutdown()
    assert refused is not None and "non-public address" in refused
    assert delivered is None
    assert _Receiver.hits == ["/hook"]
