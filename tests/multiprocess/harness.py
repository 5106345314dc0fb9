"""Real deployments for the multi-process tests: databases, app servers and workers.

A `Deployment` is what an operator sets up: a directory, a metadata database (a SQLite
file, or a fresh database on the Postgres server of DATABASE_URL), a checkpointer URL,
migrations applied, graphs synced, users with DRF tokens. From it a test starts the
processes a production setup runs, each in its own process group with its output in a
log file: gunicorn (WSGI) and uvicorn (ASGI) app servers, and `manage.py yamlgraph
worker` workers. Every process gets its settings from the environment only, as
project/settings.py reads them.

Nothing here imports Django: the test process talks to the servers over HTTP and reads
the database with a plain driver (sqlite3, psycopg), as an outside observer would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers import database_url, free_port

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TEST_GRAPHS = Path(__file__).resolve().parent / "graphs"

#: Users every deployment has, each with a DRF token (`Deployment.tokens`).
USERS = ("alice", "bob")

#: Environment variables of the test process that must not leak into a deployment's
#: processes: each deployment says exactly which database and stores it uses.
CONTROLLED_ENV = (
    "DATABASE_URL",
    "DJANGO_TEST_DB_NAME",
    "DJANGO_SETTINGS_MODULE",
    "YAMLGRAPH_CHECKPOINTER_URL",
    "YAMLGRAPH_EVENTS_URL",
    "YAMLGRAPH_TASKS_URL",
    "YAMLGRAPH_LEASE_SECONDS",
    "YAMLGRAPH_GRAPH_DIRS",
    "YAMLGRAPH_RUN_MODE",
    "YAMLGRAPH_WEBHOOK_SECRET",
    "YAMLGRAPH_WEBHOOK_ALLOW_PRIVATE",
    "YAMLGRAPH_WEBHOOK_REQUIRE_HTTPS",
    "YAMLGRAPH_METRICS",
    "YAMLGRAPH_WORKER_HEARTBEAT_SECONDS",
    "YAMLGRAPH_WORKER_STALE_SECONDS",
    "PROMETHEUS_MULTIPROC_DIR",
)

#: Every process a test started, so a failing test can show their logs (conftest.py).
LIVE_PROCESSES: list[Process] = []
#: Every deployment not yet closed, so each test's teardown can release what it held.
LIVE_DEPLOYMENTS: list[Deployment] = []


class HarnessError(AssertionError):
    """A deployment step or process failed; the message carries its output or log."""


# --------------------------------------------------------------------------- processes


class Process:
    """A child process in its own process group, its output going to a log file."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path):
        self.name, self.args, self.env = name, args, dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} is not started"
        return self.popen.pid

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a group of its own: stop() ends its children too
            )
        LIVE_PROCESSES.append(self)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self, tail: int | None = None) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:] if tail else text

    def died_message(self) -> str:
        code = self.popen.poll() if self.popen is not None else None
        return f"{self.name} exited with status {code}. Log:\n{self.log(20000) or '(empty)'}"

    def check_alive(self) -> None:
        """Fail with the process's log if it has exited."""
        if not self.alive():
            raise HarnessError(self.died_message())

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the whole process group (the process and its children)."""
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the group, then SIGKILL for whatever is left."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.kill_group(signal.SIGKILL)  # children that outlived their parent
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        if self in LIVE_PROCESSES:
            LIVE_PROCESSES.remove(self)


class AppServer(Process):
    """A gunicorn or uvicorn process serving the reference project on a loopback port."""

    def __init__(
        self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path, port: int
    ):
        super().__init__(name, args, env, log_dir)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, token: str, timeout: float = 90.0) -> AppServer:
        """Poll an authenticated API page until it answers 200; fail with the log."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                response = httpx.get(
                    f"{self.url}/api/graphs/",
                    headers={"Authorization": f"Token {token}"},
                    timeout=5,
                )
                if response.status_code == 200:
                    return self
                last = f"{response.status_code} {response.text[:500]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise HarnessError(
            f"{self.name} was not ready within {timeout:.0f} s (last: {last}). "
            f"Log:\n{self.log(20000)}"
        )


class Worker(Process):
    """`manage.py yamlgraph worker`: the task worker plus the crashed-run sweeper."""

    #: What a worker says once it listens for tasks (django-tasks-db: "Starting worker
    #: worker_id=... queues=default"; RQ: "Worker ... started").
    READY = re.compile(r"start|ready|listening", re.IGNORECASE)

    def wait_started(self, timeout: float = 30.0) -> Worker:
        """Wait until the worker says it started (or stays up, silent, for `timeout`);
        fail with its log if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.READY.search(self.log()):
                return self
            time.sleep(0.1)
        self.check_alive()
        return self


# --------------------------------------------------------------------------- databases


@dataclass
class Database:
    """The metadata database of a deployment: a SQLite file or a Postgres database."""

    url: str  # as DATABASE_URL
    kind: str  # "sqlite" or "postgres"
    admin_url: str | None = None  # Postgres: the server's URL, to drop the database

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of `sql` (`%s` placeholders), read with a plain driver: what is stored."""
        if self.kind == "sqlite":
            path = self.url.removeprefix("sqlite:///")
            conn = sqlite3.connect(path, timeout=30)
            try:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def drop(self) -> None:
        if self.kind != "postgres" or self.admin_url is None:
            return
        import psycopg
        from psycopg import sql

        name = self.url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def sqlite_database(root: Path) -> Database:
    return Database(url=f"sqlite:///{root / 'db.sqlite3'}", kind="sqlite")


def postgres_database(admin_url: str, prefix: str = "yamlgraph_mp") -> Database:
    """A new, uniquely named database on the server of `admin_url`."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return Database(url=database_url(admin_url, name), kind="postgres", admin_url=admin_url)


# --------------------------------------------------------------------------- deployments


@dataclass
class Deployment:
    """One deployment's settings, directory and processes; see the module docstring."""

    name: str
    root: Path
    database: Database
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        LIVE_DEPLOYMENTS.append(self)

    @property
    def graph_dir(self) -> Path:
        return self.root / "graphs"

    @property
    def signals(self) -> Path:
        """Where the test graphs' python steps leave their files (tools/hold.py)."""
        return self.graph_dir / "signals"

    # ----------------------------------------------------------------- commands

    def manage(self, *args: str, timeout: float = 180.0, check: bool = True) -> str:
        """Run `manage.py ARGS` with the deployment's environment; its output."""
        try:
            done = subprocess.run(
                [PYTHON, "manage.py", *args],
                env=self.env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"manage.py {' '.join(args)} took over {timeout:.0f} s") from exc
        output = done.stdout + done.stderr
        if check and done.returncode != 0:
            raise HarnessError(
                f"manage.py {' '.join(args)} exited with {done.returncode}:\n{output}"
            )
        return output

    def django(self, code: str, timeout: float = 120.0) -> str:
        """Run Python `code` in a process with Django set up for this deployment."""
        return self.manage("shell", "-c", code, timeout=timeout)

    def prepare(self) -> Deployment:
        """Migrate, sync the graphs, create the users and their tokens (one process, as
        `manage.py migrate`, `manage.py yamlgraph sync` and a shell would do in three)."""
        code = (
            "import json\n"
            "from django.core.management import call_command\n"
            "call_command('migrate', interactive=False, verbosity=0)\n"
            "call_command('yamlgraph', 'sync')\n"
            "from django.contrib.auth import get_user_model\n"
            "from rest_framework.authtoken.models import Token\n"
            "tokens = {}\n"
            f"for name in {list(USERS)!r}:\n"
            "    user = get_user_model().objects.create_user(name, password=name)\n"
            "    tokens[name] = Token.objects.create(user=user).key\n"
            "print('TOKENS=' + json.dumps(tokens))\n"
        )
        output = self.django(code)
        match = re.search(r"^TOKENS=(.*)$", output, re.MULTILINE)
        if match is None:
            raise HarnessError(f"could not create the users:\n{output}")
        self.tokens = json.loads(match.group(1))
        return self

    # ----------------------------------------------------------------- processes

    def _process_env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.env, **(extra or {})}

    def gunicorn(
        self, workers: int = 4, *, name: str | None = None, env: Mapping[str, str] | None = None
    ) -> AppServer:
        """Start gunicorn (WSGI, `workers` sync workers) and wait until it serves."""
        return self._app_server(
            name or f"{self.name}-gunicorn",
            lambda port: [
                PYTHON,
                "-m",
                "gunicorn",
                "project.wsgi",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "--graceful-timeout",
                "3",
            ],
            env,
        )

    def uvicorn(
        self, *, name: str | None = None, env: Mapping[str, str] | None = None
    ) -> AppServer:
        """Start uvicorn (ASGI) and wait until it serves."""
        return self._app_server(
            name or f"{self.name}-uvicorn-{len(self.processes)}",
            lambda port: [
                PYTHON,
                "-m",
                "uvicorn",
                "project.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--timeout-graceful-shutdown",
                "3",
                "--no-access-log",
            ],
            env,
        )

    def _app_server(self, name: str, command: Any, env: Mapping[str, str] | None) -> AppServer:
        last_error: HarnessError | None = None
        for _attempt in range(3):  # a free port may be taken before the server binds it
            port = free_port()
            server = AppServer(name, command(port), self._process_env(env), self.root, port)
            server.start()
            self.processes.append(server)
            try:
                return server.wait_ready(self.tokens[USERS[0]])
            except HarnessError as exc:
                server.stop()
                self.processes.remove(server)
                if "already in use" not in server.log():
                    raise
                last_error = exc
        assert last_error is not None
        raise last_error

    def worker(self, *, name: str | None = None, env: Mapping[str, str] | None = None) -> Worker:
        """Start `manage.py yamlgraph worker` and fail with its log if it exits at once."""
        worker = Worker(
            name or f"{self.name}-worker-{len(self.processes)}",
            [PYTHON, "manage.py", "yamlgraph", "worker"],
            self._process_env(env),
            self.root,
        )
        worker.start()
        self.processes.append(worker)
        return worker.wait_started()

    def close(self) -> None:
        """Stop every process, then drop the database (Postgres)."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.database.drop()
        if self in LIVE_DEPLOYMENTS:
            LIVE_DEPLOYMENTS.remove(self)

    # ----------------------------------------------------------------- reading

    def session_row(self, session_id: str) -> dict[str, Any] | None:
        """The stored session row (status, revision, interrupts, lease), or None."""
        rows = self.database.query(
            "SELECT status, revision, interrupts, error, lease_expires_at "
            "FROM yamlgraph_django_session WHERE id = %s",
            (uuid_param(self.database, session_id),),
        )
        if not rows:
            return None
        status, revision, interrupts, error, lease = rows[0]
        return {
            "status": status,
            "revision": revision,
            "interrupts": json_value(self.database, interrupts),
            "error": error,
            "lease_expires_at": lease,
        }

    def session_id(self, thread_id: str) -> str | None:
        """The id of the session on LangGraph thread `thread_id` (a client that lost its
        answer finds its session by the thread id it chose)."""
        rows = self.database.query(
            "SELECT id FROM yamlgraph_django_session WHERE thread_id = %s", (thread_id,)
        )
        return str(uuid.UUID(str(rows[0][0]))) if rows else None

    def runs(self, session_id: str) -> list[dict[str, Any]]:
        """The session's Run rows in order: {id, kind, status, value, error, control,
        channel, started, finished}."""
        rows = self.database.query(
            "SELECT id, kind, status, value, error, control, channel, started_at, finished_at "
            "FROM yamlgraph_django_run WHERE session_id = %s ORDER BY id",
            (uuid_param(self.database, session_id),),
        )
        return [
            {
                "id": pk,
                "kind": kind,
                "status": status,
                "value": json_value(self.database, value),
                "error": error,
                "control": control,
                "channel": channel,
                "started_at": started,
                "finished_at": finished,
            }
            for pk, kind, status, value, error, control, channel, started, finished in rows
        ]

    def signal_count(self, tag: str, step: str) -> int:
        """How many times step `step` of the session tagged `tag` began (tools/hold.py)."""
        path = self.signals / f"{tag}.{step}.count"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def started_pid(self, tag: str, step: str) -> int | None:
        path = self.signals / f"{tag}.{step}.started"
        return int(path.read_text()) if path.exists() and path.read_text() else None

    def new_tag(self, prefix: str) -> str:
        """A fresh tag for a session of the test graphs; `release_all` lets it go."""
        tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.tags.append(tag)
        return tag

    def release_all(self) -> None:
        """Let every held step of every tagged session finish (a test's teardown: a
        failed test must not leave a worker busy with a step held for minutes)."""
        self.signals.mkdir(exist_ok=True)
        for tag in self.tags:
            (self.signals / f"{tag}.all.go").touch()
        self.tags.clear()

    def release(self, tag: str, step: str) -> None:
        """Let a held step of the session tagged `tag` finish (tools/hold.py)."""
        self.signals.mkdir(exist_ok=True)
        (self.signals / f"{tag}.{step}.go").touch()

    def overlaps(self, tag: str) -> str:
        path = self.signals / f"{tag}.overlaps"
        return path.read_text() if path.exists() else ""

    def logs(self, tail: int = 6000) -> str:
        """The tails of every process's log, for failure messages."""
        return "\n".join(f"--- {p.name}:\n{p.log(tail)}" for p in self.processes)


def uuid_param(database: Database, value: str) -> Any:
    """A session id as each driver compares it: Django stores UUIDs as 32 hex on SQLite."""
    return uuid.UUID(str(value)).hex if database.kind == "sqlite" else uuid.UUID(str(value))


def json_value(database: Database, value: Any) -> Any:
    """A JSONField as stored: JSON text on SQLite, already decoded by psycopg."""
    if database.kind == "sqlite" and isinstance(value, str):
        return json.loads(value)
    return value


def base_env(root: Path, database: Database, settings: Mapping[str, str | None]) -> dict[str, str]:
    """The environment of a deployment's processes: the test's, minus what it controls,
    plus the deployment's settings (a None value leaves a variable unset)."""
    env = {key: value for key, value in os.environ.items() if key not in CONTROLLED_ENV}
    env.update(
        {
            "DATABASE_URL": database.url,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECRET_KEY": f"multiprocess-test-{uuid.uuid4().hex}",
            "YAMLGRAPH_GRAPH_DIRS": str(root / "graphs"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update({key: value for key, value in settings.items() if value is not None})
    return env


def create_deployment(
    name: str,
    root: Path,
    *,
    database: str = "sqlite",
    checkpointer: str = "sqlite",
    redis_url: str | None = None,
    events: str = "database",
    tasks: str = "database",
    lease_seconds: float = 300,
    settings: Mapping[str, str | None] | None = None,
) -> Deployment:
    """Set up a deployment in `root` (see `Deployment.prepare`); `close()` undoes it.

    database: "sqlite" (a file in root) or "postgres" (a new database on the server of
    DATABASE_URL, which must be set); checkpointer: "sqlite" (a file in root), "postgres"
    (the metadata database) or "redis" (`redis_url`); events / tasks: "database" (the
    SessionEvent table / django-tasks-db) or "redis" (`redis_url`: Redis Streams / RQ, the
    latter on database 1).
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(TEST_GRAPHS, root / "graphs", ignore=shutil.ignore_patterns("__pycache__"))
    if database == "postgres":
        admin_url = os.environ.get("DATABASE_URL", "").strip()
        if not admin_url:
            raise HarnessError("a Postgres deployment needs DATABASE_URL")
        db = postgres_database(admin_url)
    else:
        db = sqlite_database(root)
    checkpointer_url = {
        "sqlite": f"sqlite:///{root / 'checkpoints.sqlite3'}",
        "postgres": db.url if db.kind == "postgres" else None,
        "redis": redis_url,
    }[checkpointer]
    if checkpointer_url is None:
        raise HarnessError(f"no URL for a {checkpointer} checkpointer with a {database} database")
    env = base_env(
        root,
        db,
        {
            "YAMLGRAPH_CHECKPOINTER_URL": checkpointer_url,
            "YAMLGRAPH_EVENTS_URL": redis_url if events == "redis" else None,
            # RQ's keys in database 1, apart from checkpoints and events (database 0).
            "YAMLGRAPH_TASKS_URL": f"{redis_url}/1" if tasks == "redis" and redis_url else None,
            "YAMLGRAPH_LEASE_SECONDS": str(lease_seconds),
            **(settings or {}),
        },
    )
    deployment = Deployment(name=name, root=root, database=db, env=env)
    try:
        return deployment.prepare()
    except BaseException:
        deployment.close()
        raise


@contextlib.contextmanager
def deployed(name: str, root: Path, **options: Any) -> Iterator[Deployment]:
    """`create_deployment` as a context manager that stops and drops everything after."""
    deployment = create_deployment(name, root, **options)
    try:
        yield deployment
    finally:
        deployment.close()


# --------------------------------------------------------------------------- HTTP


@dataclass
class SseEvent:
    """One Server-Sent Event: its `id:`, `event:` and decoded `data:`."""

    id: str | None
    event: str
    data: Any


class Api:
    """The DRF API of one app server, as a user with a token sees it."""

    def __init__(self, server: AppServer, token: str, timeout: float = 60.0):
        self.server = server
        self.base = f"{server.url}/api"
        self.headers = {"Authorization": f"Token {token}"}
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.base}{path}",
            json=json_body,
            headers={**self.headers, **(headers or {})},
            timeout=self.timeout,
        )

    def start(
        self, graph: str, input: Mapping[str, Any] | None = None, **body: Any
    ) -> httpx.Response:
        return self.request(
            "POST", "/sessions/", json_body={"graph": graph, "input": dict(input or {}), **body}
        )

    def get(self, session_id: str) -> httpx.Response:
        return self.request("GET", f"/sessions/{session_id}/")

    def resume(
        self, session_id: str, body: Mapping[str, Any], *, if_match: str | None = None
    ) -> httpx.Response:
        headers = {"If-Match": if_match} if if_match else {}
        return self.request(
            "POST", f"/sessions/{session_id}/resume/", json_body=dict(body), headers=headers
        )

    def cancel(self, session_id: str) -> httpx.Response:
        return self.request("POST", f"/sessions/{session_id}/cancel/", json_body={})

    def history(self, session_id: str) -> httpx.Response:
        return self.request("GET", f"/sessions/{session_id}/history/?limit=100")

    def wait_status(
        self,
        session_id: str,
        statuses: set[str],
        timeout: float = 60.0,
        *,
        processes: Iterable[Process] = (),
    ) -> dict[str, Any]:
        """Poll the session until its status is one of `statuses`; its last body."""
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for process in processes:
                process.check_alive()
            response = self.get(session_id)
            assert response.status_code == 200, response.text
            body = response.json()
            if body["status"] in statuses:
                return body
            time.sleep(0.2)
        raise AssertionError(
            f"session {session_id} did not reach {sorted(statuses)} within {timeout:.0f} s; "
            f"last: {json.dumps(body)[:2000]}"
        )

    @contextlib.contextmanager
    def stream(
        self,
        session_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        last_event_id: str | None = None,
        deadline: float = 90.0,
    ) -> Iterator[tuple[httpx.Response, Iterator[SseEvent]]]:
        """Open GET .../stream/; yields the response and an iterator of its events.

        A stream still open after `deadline` seconds is closed and the block fails with
        the events read so far (a stream the server never ends must not hang the suite).
        """
        headers = {**self.headers, "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        received: list[SseEvent] = []
        fired = threading.Event()
        with (
            httpx.Client(timeout=httpx.Timeout(60, connect=10)) as client,
            client.stream(
                "GET",
                f"{self.base}/sessions/{session_id}/stream/",
                params=dict(params or {}),
                headers=headers,
            ) as response,
        ):

            def close() -> None:
                fired.set()
                response.close()

            def recorded() -> Iterator[SseEvent]:
                try:
                    for event in parse_sse(response.iter_lines()):
                        received.append(event)
                        yield event
                except (httpx.HTTPError, ValueError, AttributeError):
                    if not fired.is_set():
                        raise

            watchdog = threading.Timer(deadline, close)
            watchdog.start()
            try:
                yield response, recorded()
            finally:
                watchdog.cancel()
        if fired.is_set():
            raise AssertionError(
                f"the stream of {session_id} was still open after {deadline:.0f} s; events: "
                f"{[(e.id, e.event, e.data) for e in received]}"
            )

    def read_stream(self, session_id: str, **options: Any) -> list[SseEvent]:
        """Every event of a stream until the server closes it (see `stream`)."""
        with self.stream(session_id, **options) as (response, events):
            assert response.status_code == 200, response.read().decode(errors="replace")
            content_type = response.headers.get("content-type", "")
            assert content_type.startswith("text/event-stream"), content_type
            return list(events)


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Events of a text/event-stream (comments such as `: heartbeat` are skipped)."""
    event_id: str | None = None
    name = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    decoded: Any = json.loads(text)
                except ValueError:
                    decoded = text
                yield SseEvent(id=event_id, event=name, data=decoded)
            event_id, name, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "id":
            event_id = value
        elif key == "event":
            name = value
        elif key == "data":
            data.append(value)


def wait_until(
    condition: Callable[[], Any],
    what: str,
    *,
    timeout: float = 60.0,
    processes: Iterable[Process] = (),
    interval: float = 0.1,
) -> Any:
    """Poll `condition` until it returns something truthy (returned); fail after
    `timeout` saying `what` did not happen, or at once with the log of a process that died."""
    deadline = time.monotonic() + timeout
    while True:
        for process in processes:
            process.check_alive()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)
