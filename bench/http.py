"""Sessions per second over HTTP (gunicorn) against raw LangGraph in-process, same saver.

One session is the interview graph's start + 2 answers. The API side is the reference
project served by gunicorn (4 sync workers, `make serve`), driven by 1 and by 8 client
threads on keep-alive connections; the raw side runs the same compiled graph shape with
LangGraph alone on a saver of the same type, by 1 and by 8 threads. Rounds alternate
between the two sides in one run, and the best round of each counts.

    .venv/bin/python -m bench.http [--sessions 60] [--rounds 3] [--savers sqlite,redis,postgres]

Redis runs on the test harness's Valkey (RedisJSON + RediSearch); Postgres when a server
answers at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres). With
Postgres there, the API's metadata database is Postgres too (as in production);
otherwise it is a SQLite file.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 1.5  # the API may take at most this many times raw LangGraph's time per session
WORKERS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2):
            return url
    except Exception:
        return None


def ensure_database(url: str, name: str) -> str:
    """A fresh database `name` on the server of `url` (dropped first), as a URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


# --------------------------------------------------------------------------- the server


class Server:
    """The reference project on gunicorn with its own metadata and checkpoint stores."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env, "DJANGO_DEBUG": "0", "DJANGO_CONN_MAX_AGE": "600"}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def start(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("yamlgraph", "sync")
        self.token = self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model;"
            "from rest_framework.authtoken.models import Token;"
            "u, _ = get_user_model().objects.get_or_create(username='bench');"
            "print(Token.objects.get_or_create(user=u)[0].key)",
        ).split()[-1]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "project.wsgi",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--keep-alive",
                "30",
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


class Client:
    """One keep-alive connection speaking the API's JSON."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.conn.request("POST", path, json.dumps(body), self.headers)
        response = self.conn.getresponse()
        data = json.loads(response.read())
        if response.status not in (200, 201):
            raise RuntimeError(f"{path}: {response.status} {data}")
        return data

    def session(self) -> None:
        started = self.post("/api/sessions/", {"graph": "interview", "input": {}})
        url = f"/api/sessions/{started['id']}/resume/"
        self.post(url, {"value": "Ada"})
        done = self.post(url, {"value": "ship it"})
        assert done["status"] == "completed", done


# --------------------------------------------------------------------------- raw


def raw_app(saver: Any) -> Any:
    from bench.engine import raw_interview

    return raw_interview().compile(checkpointer=saver)


def raw_session(app: Any) -> None:
    from langgraph.types import Command

    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    app.invoke({}, config, durability="sync")
    app.invoke(Command(resume="Ada"), config, durability="sync")
    result = app.invoke(Command(resume="ship it"), config, durability="sync")
    assert "summary" in result, result


def timed(clients: int, sessions: int, work: Callable[[int], Callable[[], None]]) -> float:
    """Seconds for `sessions` sessions shared by `clients` threads (each its own worker)."""
    per = [sessions // clients + (1 if i < sessions % clients else 0) for i in range(clients)]
    jobs = [work(i) for i in range(clients)]
    errors: list[BaseException] = []

    def run(job: Callable[[], None], count: int) -> None:
        try:
            for _ in range(count):
                job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(j, n)) for j, n in zip(jobs, per, strict=True)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


@contextlib.contextmanager
def saver_setups(names: list[str], directory: str) -> Iterator[list[tuple[str, dict, Any]]]:
    """(name, server env, raw saver) for each saver that can run here."""
    from yamlgraph.storage import close_checkpointer, get_checkpointer

    setups: list[tuple[str, dict, Any]] = []
    stack = contextlib.ExitStack()
    pg = postgres_url()
    meta: dict[str, str] = {}
    if pg:
        meta = {"DATABASE_URL": ensure_database(pg, "yamlgraph_bench_meta")}
    try:
        if "sqlite" in names:
            env = {
                "DATABASE_URL": f"sqlite:///{directory}/meta.sqlite3",
                "YAMLGRAPH_CHECKPOINTER_URL": f"sqlite:///{directory}/api-cp.sqlite3",
            }
            saver = get_checkpointer({"type": "sqlite", "path": f"{directory}/raw-cp.sqlite3"})
            setups.append(("sqlite", env, saver))
        if "redis" in names:
            from tests.servers import ValkeyServer

            valkey = ValkeyServer()
            valkey.start()
            stack.callback(valkey.stop)
            env = {
                "DATABASE_URL": meta.get("DATABASE_URL", f"sqlite:///{directory}/meta-r.sqlite3"),
                "YAMLGRAPH_CHECKPOINTER_URL": valkey.url,
            }
            saver = get_checkpointer({"type": "redis", "url": valkey.url})
            setups.append(("redis", env, saver))
        if "postgres" in names and pg:
            api_cp = ensure_database(pg, "yamlgraph_bench_api_cp")
            raw_cp = ensure_database(pg, "yamlgraph_bench_raw_cp")
            env = {"DATABASE_URL": meta["DATABASE_URL"], "YAMLGRAPH_CHECKPOINTER_URL": api_cp}
            saver = get_checkpointer({"type": "postgres", "url": raw_cp})
            setups.append(("postgres", env, saver))
        yield setups
    finally:
        for _name, _env, saver in setups:
            with contextlib.suppress(Exception):
                close_checkpointer(saver)
        stack.close()


def compare(name: str, server: Server, app: Any, sessions: int, rounds: int) -> None:
    """Print raw and API sessions/s with 1 and 8 clients, rounds interleaved."""

    def api_client(_index: int) -> Callable[[], None]:
        return Client(server.port, server.token).session

    def raw_client(_index: int) -> Callable[[], None]:
        return lambda: raw_session(app)

    raw_session(app)  # warm
    timed(8, 16, api_client)  # warm every worker: lazy graph sync, compiled graph, saver
    for clients in (1, 8):
        raw_best = api_best = float("inf")
        for _ in range(rounds):
            raw_best = min(raw_best, timed(clients, sessions, raw_client))
            api_best = min(api_best, timed(clients, sessions, api_client))
        ratio = api_best / raw_best
        verdict = "ok" if ratio <= GOAL else "over goal"
        print(
            f"  {name:8} {clients} client{'s' if clients > 1 else ' '}: "
            f"raw {sessions / raw_best:7.1f}/s  API {sessions / api_best:7.1f}/s  "
            f"ratio {ratio:.2f}x (goal <= {GOAL}x: {verdict})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--savers", default="sqlite,redis,postgres")
    args = parser.parse_args()
    names = [name.strip() for name in args.savers.split(",") if name.strip()]
    print(
        f"HTTP API (gunicorn, {WORKERS} sync workers) vs raw LangGraph in-process, same saver;"
        f" interview start + 2 answers, {args.sessions} sessions per round, best of"
        f" {args.rounds}; goal: API time <= {GOAL}x raw"
    )
    with tempfile.TemporaryDirectory() as directory, saver_setups(names, directory) as setups:
        for name, env, saver in setups:
            server = Server(env)
            server.start()
            try:
                compare(name, server, raw_app(saver), args.sessions, args.rounds)
            finally:
                server.stop()
    if "postgres" in names and not postgres_url():
        print("  postgres: skipped (no server at DATABASE_URL)")


if __name__ == "__main__":
    main()
