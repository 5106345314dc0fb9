"""What happens when a session is interrupted, completes or fails, besides the row change.

`SessionQuerySet.finish` (the one place those transitions are written) announces each
through `yamlgraph_django.signals.announce`: after commit, the session is loaded and
its signal sent. This module is the app's own receiver of those signals: it queues the
session's webhook (`services.webhooks`). The app config connects it at startup.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from yamlgraph_django.services.webhooks import enqueue_delivery
from yamlgraph_django.signals import SIGNALS, announce

__all__ = ["announce", "connect"]

_STATUS_OF: dict[Signal, str] = {signal: status for status, signal in SIGNALS.items()}


def queue_webhook(sender: Any, session: Any, signal: Signal, **kwargs: Any) -> None:
    """Receiver of the three session signals: POST the session to its webhook."""
    enqueue_delivery(session, _STATUS_OF[signal])


def connect() -> None:
    """Connect the webhook receiver to the session signals (idempotent)."""
    for status, signal in SIGNALS.items():
        signal.connect(queue_webhook, dispatch_uid=f"yamlgraph_webhook_{status}")
