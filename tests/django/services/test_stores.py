"""Sessions on the server-backed stores behave as on SQLite.

A regression guard: with LangGraph's default ("async") durability the Redis saver could
save a step's writes before the step's checkpoint and then report no pending writes,
so a session's question vanished while another session ran. The service saves each
checkpoint before the next step ("sync" durability); these scenarios must hold.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from yamlgraph_django.models import SessionStatus
from yamlgraph_django.services import get_state, resume_session, start_session

pytestmark = pytest.mark.django_db


def interleaved_sessions(settings: dict[str, Any], store: dict[str, Any]) -> None:
    with override_settings(YAMLGRAPH={**settings, "CHECKPOINTER_OVERRIDE": store}):
        first = start_session("interview")
        question = get_state(first)["interrupts"]
        assert question == first.interrupts
        second = start_session("interview")
        resume_session(second, "Ada")
        assert get_state(first)["interrupts"] == question

        resume_session(first, "Bo")
        resume_session(second, "win")

        assert "Thanks Bo." in first.interrupts[0]["value"]
        assert second.status == SessionStatus.COMPLETED
        assert second.output["summary"] == "Summary: Ada wants to win."


@pytest.mark.parametrize("attempt", range(5))
def test_interleaved_sessions_on_redis(graphs, yamlgraph_settings, redis_url, attempt):
    interleaved_sessions(yamlgraph_settings, {"type": "redis", "url": redis_url})


def test_interleaved_sessions_on_postgres(graphs, yamlgraph_settings, postgres_url):
    interleaved_sessions(yamlgraph_settings, {"type": "postgres", "url": postgres_url})


@pytest.mark.parametrize("attempt", range(3))
def test_interleaved_sessions_on_plain_redis(graphs, yamlgraph_settings, plain_redis_url, attempt):
    """`redis-simple` on a Valkey without modules, through the session service."""
    store = {"type": "redis-simple", "url": plain_redis_url, "prefix": "yg-service"}
    interleaved_sessions(yamlgraph_settings, store)
