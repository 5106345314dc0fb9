"""Webhooks: a session's `webhook` URL is POSTed the session when it is interrupted,
completes or fails, by a Django Task that retries with exponential backoff.

The request a receiver gets:

    POST <session.webhook>
    Content-Type: application/json
    X-Yamlgraph-Event: session.interrupted        (or session.completed, session.failed)
    X-Yamlgraph-Signature: sha256=<hex HMAC-SHA256 of the body, key WEBHOOK_SECRET>

    {"event": "session.interrupted", "id": ..., "thread_id", "graph": {"name", "version"},
     "status", "values", "interrupts", "error", "metadata", "revision", "created_at",
     "updated_at"}

`values` are the stored values (the final ones once completed), named as the API and
the protocol name them (`services.session_view`).

The body is taken once, when the transition commits, and every retry sends the same
bytes (so the same signature): a receiver may use `id` + `revision` to drop a repeat.
Where a webhook may point is `url_policy`'s decision (https unless DEBUG, an optional
allow-list, no loopback/private/link-local address, checked again when the POST
connects), and webhooks need WEBHOOK_SECRET: an unsigned call could be forged by anyone.
A delivery counts when the receiver answers 2xx; a non-2xx answer (redirects are not
followed) or a connection error is retried WEBHOOK_RETRIES times, after
WEBHOOK_BACKOFF_SECONDS * 2**attempt seconds: re-enqueued to run later when the task
backend can defer (django-tasks-db, RQ), else slept in the task.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import re
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.models import Session
from yamlgraph_django.services.session_view import session_view
from yamlgraph_django.services.url_policy import check_webhook_url, vetted_connection

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

logger = logging.getLogger("yamlgraph_django.webhooks")

EVENT_HEADER = "X-Yamlgraph-Event"
SIGNATURE_HEADER = "X-Yamlgraph-Signature"
MAX_URL_LENGTH = Session._meta.get_field("webhook").max_length or 2000
_PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
#: What a webhook URL may be: http(s), a host name or IPv4 address, maybe a port, then
#: any visible ASCII (percent-encode the rest). One regex, shared with the OpenAPI
#: document, so what the document allows is exactly what is accepted.
WEBHOOK_PATTERN = rf"\Ahttps?://[A-Za-z0-9.-]+(?::{_PORT})?(?:[/?#][!-~]*)?\Z"
_webhook_url = re.compile(WEBHOOK_PATTERN)
WEBHOOK_MESSAGE = (
    "must be an http:// or https:// URL: a host name or IPv4 address, an optional port, "
    "then visible ASCII characters"
)


def event_name(status: str) -> str:
    """The event a status change is delivered as: `session.<status>`."""
    return f"session.{status}"


def validate_webhook(url: Any) -> str:
    """A webhook URL as stored: "" for none; InvalidInput unless an http(s) URL that
    the URL policy allows, with WEBHOOK_SECRET set."""
    if url is None or url == "":
        return ""
    if not isinstance(url, str) or not _webhook_url.match(url):
        raise InvalidInput(errors={"webhook": WEBHOOK_MESSAGE})
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(errors={"webhook": f"at most {MAX_URL_LENGTH} characters"})
    if not app_settings.WEBHOOK_SECRET:
        raise InvalidInput(
            errors={
                "webhook": "webhooks are off: set YAMLGRAPH['WEBHOOK_SECRET'] (receivers "
                "check the signature made with it)"
            }
        )
    check_webhook_url(url)
    return url


def set_webhook(session: Session, url: Any) -> None:
    """Give a session a (new) webhook URL; None leaves the one it has."""
    if url is None:
        return
    session.webhook = validate_webhook(url)
    Session.objects.filter(pk=session.pk).update(webhook=session.webhook)


def session_body(session: Session, event: str) -> dict[str, Any]:
    """What a webhook receives: the session as the API shows it (the one session view,
    without a checkpoint read), and the event."""
    view = session_view(session)
    return {
        "event": event,
        "id": view.id,
        "thread_id": view.thread_id,
        "graph": view.graph,
        "status": view.status,
        "values": view.values,
        "interrupts": view.interrupts,
        "error": view.error,
        "metadata": view.metadata,
        "revision": view.revision,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


def signature(payload: bytes, secret: str | None = None) -> str:
    """`sha256=<hex>`: the HMAC-SHA256 of the body bytes with WEBHOOK_SECRET."""
    key = (app_settings.WEBHOOK_SECRET if secret is None else secret) or ""
    return "sha256=" + hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()


def enqueue_delivery(session: Session, status: str) -> None:
    """Queue the POST of `session` (as committed) for its `status` change, if it has a
    webhook; a backend that cannot take the task is logged, never raised."""
    if not session.webhook:
        return
    event = event_name(status)
    payload = json.dumps(session_body(session, event), cls=DjangoJSONEncoder)
    try:
        deliver_webhook.enqueue(str(session.pk), event, 0, url=session.webhook, payload=payload)
    except Exception:
        logger.exception("could not enqueue the %s webhook of session %s", event, session.pk)


@task()
def deliver_webhook(
    session_id: str,
    event: str,
    attempt: int = 0,
    *,
    url: str | None = None,
    payload: str | None = None,
) -> str:
    """POST one event to a session's webhook; retried with backoff until a 2xx.

    `url` and `payload` are fixed when the event is queued; without them (a call by
    hand) they are read from the session now. Returns "delivered", "retrying",
    "given up" or "no webhook".
    """
    if url is None or payload is None:
        session = Session.objects.select_related("graph").filter(pk=session_id).first()
        if session is None or not session.webhook:
            return "no webhook"
        url = session.webhook
        payload = json.dumps(session_body(session, event), cls=DjangoJSONEncoder)
    retries = int(app_settings.WEBHOOK_RETRIES)
    while True:
        problem = post(url, event, payload.encode())
        if problem is None:
            return "delivered"
        if attempt >= retries:
            logger.warning(
                "gave up the %s webhook of session %s to %s after %d attempts: %s",
                event,
                session_id,
                _where(url),
                attempt + 1,
                problem,
            )
            return "given up"
        delay = float(app_settings.WEBHOOK_BACKOFF_SECONDS) * 2**attempt
        logger.info(
            "%s webhook of session %s to %s failed (%s); retry in %.1fs",
            event,
            session_id,
            _where(url),
            problem,
            delay,
        )
        attempt += 1
        if deliver_webhook.get_backend().supports_defer:
            later = deliver_webhook.using(run_after=timezone.now() + dt.timedelta(seconds=delay))
            later.enqueue(session_id, event, attempt, url=url, payload=payload)
            return "retrying"
        time.sleep(delay)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx: following it would resend the body
    somewhere the session's owner did not name."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _vetted(connection_class: type) -> Any:
    """`connection_class` whose socket goes only where the URL policy allows."""

    def make(host: str, **kwargs: Any) -> Any:
        connection = connection_class(host, **kwargs)
        connection._create_connection = vetted_connection()
        return connection

    return make


class _VettedHTTP(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_vetted(http.client.HTTPConnection), req)


class _VettedHTTPS(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(_vetted(http.client.HTTPSConnection), req, context=self._context)


_opener = urllib.request.build_opener(_NoRedirects, _VettedHTTP, _VettedHTTPS)


def post(url: str, event: str, payload: bytes) -> str | None:
    """POST `payload`; None if the receiver answered 2xx, else what went wrong."""
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "yamlgraph-django-webhook",
            EVENT_HEADER: event,
            SIGNATURE_HEADER: signature(payload),
        },
    )
    try:
        with _opener.open(request, timeout=float(app_settings.WEBHOOK_TIMEOUT_SECONDS)) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    return None if 200 <= status < 300 else f"HTTP {status}"


def _where(url: str) -> str:
    """Scheme, host and port of a webhook URL, for logs (its path may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
