"""Fixtures of the multi-process tests: deployments with real servers and workers.

Every test here is marked `multiprocess` (slow: it starts processes); CI runs this
directory on one Python line. Processes are shared per test session where the tests
allow it, and stopped (process group killed) at the end:

- ``wsgi``: gunicorn with 4 sync workers on a SQLite deployment (metadata and
  checkpoints in files) and on a Postgres one (a fresh database for both), lease 3 s.
- ``engine``: two uvicorn servers and one worker on a fresh Postgres database, with
  Postgres checkpoints and the database event log, and again with Redis checkpoints
  and Redis events (the Valkey server of tests/conftest.py), lease 3 s and a webhook
  secret.

(test_rq.py adds a deployment of its own: SQLite everything, tasks on RQ.)
A failing test gets the tail of every live process's log in its report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.multiprocess.harness import (
    LIVE_DEPLOYMENTS,
    LIVE_PROCESSES,
    USERS,
    Api,
    AppServer,
    Deployment,
    HarnessError,
    Worker,
    create_deployment,
)

HERE = Path(__file__).resolve().parent
T = TypeVar("T")
NO_POSTGRES = "DATABASE_URL is not set: no Postgres server to deploy on"

#: Lease of the deployments: short, so crash recovery happens within a test's patience.
LEASE_SECONDS = 3.0
WEBHOOK_SECRET = "multiprocess-webhook-secret"


#: The order deployments are used in: each is set up once, used by all its tests, then
#: torn down (pytest keeps one instance of a parametrized session fixture at a time).
DEPLOYMENT_ORDER = [
    ("wsgi", "sqlite"),
    ("wsgi", "postgres"),
    ("engine", "postgres"),
    ("engine", "redis"),
]


def _deployment_rank(item: pytest.Item) -> int:
    params = getattr(getattr(item, "callspec", None), "params", {})
    for rank, (fixture, param) in enumerate(DEPLOYMENT_ORDER):
        if params.get(fixture) == param:
            return rank
    return len(DEPLOYMENT_ORDER)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this directory's tests `multiprocess`, and group them by deployment."""
    slots = [i for i, item in enumerate(items) if HERE in Path(str(item.path)).resolve().parents]
    ours = sorted((items[i] for i in slots), key=_deployment_rank)  # stable: file order kept
    for slot, item in zip(slots, ours, strict=True):
        item.add_marker(pytest.mark.multiprocess)
        items[slot] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and HERE in Path(str(item.path)).resolve().parents:
        for process in LIVE_PROCESSES:
            report.sections.append((f"log of {process.name}", process.log(4000)))
    return report


@pytest.fixture(autouse=True)
def _release_held_steps() -> Iterator[None]:
    """After each test, let go of the steps it held, whether it passed or not."""
    yield
    for deployment in LIVE_DEPLOYMENTS:
        deployment.release_all()


def postgres_or_skip() -> None:
    if not os.environ.get("DATABASE_URL", "").strip():
        pytest.skip(NO_POSTGRES)


def deploy_or_fail(name: str, root: Path, **options: Any) -> Deployment:
    failure = None
    try:
        return create_deployment(name, root, **options)
    except HarnessError as exc:
        failure = str(exc)
    pytest.fail(failure, pytrace=False)


def start_or_fail(deployment: Deployment, start: Callable[[], T]) -> T:
    """What `start` returns; on a process that would not start, the deployment is
    closed and the fixture fails with that process's log."""
    failure = None
    try:
        return start()
    except HarnessError as exc:
        failure = str(exc)
        deployment.close()
    pytest.fail(failure, pytrace=False)


@dataclass
class Wsgi:
    """A deployment served by one gunicorn with 4 workers."""

    deployment: Deployment
    server: AppServer

    def api(self, user: str = USERS[0]) -> Api:
        return Api(self.server, self.deployment.tokens[user])


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def wsgi(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Wsgi]:
    """gunicorn (4 workers) on SQLite files, or on a fresh Postgres database."""
    backend = request.param
    if backend == "postgres":
        postgres_or_skip()
    deployment = deploy_or_fail(
        f"wsgi-{backend}",
        tmp_path_factory.mktemp(f"wsgi-{backend}"),
        database=backend,
        checkpointer=backend,
        lease_seconds=LEASE_SECONDS,
    )
    server = start_or_fail(deployment, lambda: deployment.gunicorn(workers=4))
    try:
        yield Wsgi(deployment, server)
    finally:
        deployment.close()


@dataclass
class Engine:
    """Two ASGI app servers and a worker sharing one deployment."""

    deployment: Deployment
    server_a: AppServer
    server_b: AppServer
    worker: Worker
    stores: str  # "postgres" or "redis"

    def api(self, server: AppServer, user: str = USERS[0]) -> Api:
        return Api(server, self.deployment.tokens[user])

    @property
    def a(self) -> Api:
        return self.api(self.server_a)

    @property
    def b(self) -> Api:
        return self.api(self.server_b)

    def restart_server_a(self) -> AppServer:
        """Server A again (on a new port) after a test killed it."""
        name = self.server_a.name
        self.server_a.stop()
        self.deployment.processes.remove(self.server_a)
        self.server_a = self.deployment.uvicorn(name=name)
        return self.server_a

    def ensure_worker(self) -> Worker:
        """The worker, restarted if a test killed it."""
        if not self.worker.alive():
            self.worker.stop()
            self.deployment.processes.remove(self.worker)
            self.worker = self.deployment.worker()
        return self.worker


@pytest.fixture(scope="session", params=["postgres", "redis"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """Servers A and B (uvicorn) and one worker on a fresh Postgres database; checkpoints
    and events in Postgres, or in Redis (then the `redis_url` Valkey server)."""
    postgres_or_skip()
    stores = request.param
    redis_url = request.getfixturevalue("redis_url") if stores == "redis" else None
    deployment = deploy_or_fail(
        f"engine-{stores}",
        tmp_path_factory.mktemp(f"engine-{stores}"),
        database="postgres",
        checkpointer=stores,
        events=stores if stores == "redis" else "database",
        redis_url=redis_url,
        lease_seconds=LEASE_SECONDS,
        settings={
            "YAMLGRAPH_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "YAMLGRAPH_WEBHOOK_ALLOW_PRIVATE": "1",
            "YAMLGRAPH_WEBHOOK_REQUIRE_HTTPS": "0",
        },
    )

    def start() -> Engine:
        server_a = deployment.uvicorn(name=f"engine-{stores}-server-a")
        server_b = deployment.uvicorn(name=f"engine-{stores}-server-b")
        worker = deployment.worker(name=f"engine-{stores}-worker")
        return Engine(deployment, server_a, server_b, worker, stores)

    engine = start_or_fail(deployment, start)
    try:
        yield engine
    finally:
        deployment.close()
