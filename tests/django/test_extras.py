"""A setting that needs an extra which is not installed: E007 and an error at use.

"Not installed" is made real for the process the way Python sees it: None in
sys.modules makes `import name` fail, and the checks find modules without importing
them. The clean-venv test (tests/test_packaging.py) shows the same message from a real
install without extras.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from yamlgraph.storage import MissingPackage, get_checkpointer
from yamlgraph_django.events import event_log
from yamlgraph_django.extras import MissingExtra

REDIS_LINE = 'pip install "yamlgraph-django[redis]"'


def e007() -> list[Any]:
    return [m for m in run_checks(tags=["yamlgraph"]) if m.id == "yamlgraph.E007"]


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch):
    def hide(*modules: str) -> None:
        for module in modules:
            monkeypatch.setitem(sys.modules, module, None)

    return hide


def test_nothing_missing_in_the_full_install(yamlgraph_settings: dict[str, Any]) -> None:
    tasks = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    events = {**yamlgraph_settings, "EVENTS_URL": "redis://127.0.0.1:1/0"}
    with override_settings(YAMLGRAPH=events, TASKS=tasks):
        assert e007() == []


def test_a_redis_simple_checkpointer_without_the_extra(
    yamlgraph_settings: dict[str, Any], without: Any
) -> None:
    without("langgraph_checkpoint_plainredis")
    block = {"type": "redis-simple", "url": "redis://127.0.0.1:1/0"}
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": block}):
        [message] = e007()
    assert REDIS_LINE in message.msg
    assert message.obj == "YAMLGRAPH['CHECKPOINTER_OVERRIDE']"
    with pytest.raises(MissingPackage, match=r"yamlgraph-django\[redis\]"):
        get_checkpointer(block)


def test_a_postgres_checkpointer_without_the_extra(
    yamlgraph_settings: dict[str, Any], without: Any
) -> None:
    without("psycopg", "langgraph.checkpoint.postgres")
    block = {"type": "postgres", "url": "postgresql://127.0.0.1:1/x"}
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "DEFAULT_CHECKPOINTER": block}):
        [message] = e007()
    assert 'pip install "yamlgraph-django[postgres]"' in message.msg


def test_the_redis_event_log_without_the_extra(
    yamlgraph_settings: dict[str, Any], without: Any
) -> None:
    without("redis")
    events = {**yamlgraph_settings, "EVENTS_URL": "redis://127.0.0.1:1/0"}
    with override_settings(YAMLGRAPH=events):
        [message] = e007()
        assert "EVENTS_URL" in message.msg and REDIS_LINE in message.msg
        with pytest.raises(MissingExtra) as info:
            event_log()
    assert REDIS_LINE in str(info.value)


def test_the_rq_task_backend_without_the_extra(without: Any) -> None:
    without("django_tasks_rq", "rq")
    tasks = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=tasks):
        [message] = e007()
    assert "TASKS['default']" in message.msg
    assert 'pip install "yamlgraph-django[rq]"' in message.msg


def test_check_deploy_reaches_a_redis_simple_server(
    yamlgraph_settings: dict[str, Any], plain_redis_url: str
) -> None:
    """E004 covers redis-simple: quiet for the Valkey without modules, loud when down."""
    from django.core.checks import run_checks

    from tests.servers import free_port

    def deploy_messages(url: str) -> list[Any]:
        """The checkpointer's deploy message (E004; the other deploy checks, on CORS,
        HTTPS, workers..., warn about the test settings themselves)."""
        block = {"type": "redis-simple", "url": url}
        with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": block}):
            return [
                m
                for m in run_checks(tags=["yamlgraph"], include_deployment_checks=True)
                if m.id == "yamlgraph.E004"
            ]

    assert deploy_messages(plain_redis_url) == []
    [message] = deploy_messages(f"redis://127.0.0.1:{free_port()}/0")
    assert message.id == "yamlgraph.E004"
    assert "redis-simple checkpointer unreachable" in message.msg
