"""Sessions per second over HTTP, side by side: floors, our doors, and the peers.

One session is the interview graph's start + 2 answers. For each checkpoint saver (sqlite,
redis, postgres), in one run, rounds interleaved, with 1 and with 8 client threads:

- raw LangGraph in process (the graph floor);
- the same raw graph behind a bare WSGI callable on the server command of `make serve`,
  and behind a bare ASGI callable on the one of `make run` (the HTTP floor, bench.floor);
- our DRF API and our `/lg/` `runs.wait`, each on both of those servers;
- in the first saver's section, the LangGraph dev server (`langgraph-cli[inmem]`,
  in memory) and Aegra (`aegra-api`, Postgres), from scratch venvs (bench.peers).

The server command lines are read from `make -n serve` / `make -n run`, so the bench
measures what the Makefile ships. The API client program drives the floors and our API;
one protocol client program (POST /threads, then runs.wait: the input, then two
`command.resume`) drives our `/lg/` and both peers. Each round lasts a fixed time; the
best round counts for sessions/s, p50/p95 are over every request of every round.

    .venv/bin/python -m bench.http [--seconds 3] [--rounds 3] [--savers sqlite,redis,postgres]

Redis is a Valkey the bench starts (tests.servers); Postgres is 127.0.0.1:5432 (or
BENCH_POSTGRES_URL), in databases named yg_bench_* that the bench drops and recreates.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import peers  # noqa: E402

#: Users the API and /lg/ sessions are spread over: DRF throttles count per user
#: (YAMLGRAPH["THROTTLE_RATES"], 120 starts a minute), as they would for many real users.
USERS = 256
#: The goals of issue 22, as (label, numerator, denominator, client counts, minimum).
GOALS = (
    ("API (gunicorn) / HTTP floor (WSGI)", "api-wsgi", "floor-wsgi", (1, 8), 0.67),
    ("API (ASGI) / HTTP floor (ASGI)", "api-asgi", "floor-asgi", (1, 8), 0.67),
    ("/lg/ / API (gunicorn)", "lg-wsgi", "api-wsgi", (1, 8), 0.9),
    ("/lg/ / API (ASGI)", "lg-asgi", "api-asgi", (1, 8), 0.9),
    ("/lg/ (gunicorn) / LangGraph dev server", "lg-wsgi", "devserver", (8,), 2.0),
    ("/lg/ (gunicorn) / Aegra", "lg-wsgi", "aegra", (8,), 2.0),
    ("API ASGI / API gunicorn", "api-asgi", "api-wsgi", (1, 8), 0.95),
    ("/lg/ ASGI / /lg/ gunicorn", "lg-asgi", "lg-wsgi", (1, 8), 0.95),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_url() -> str | None:
    """The admin URL of the local Postgres, when one answers."""
    url = os.environ.get("BENCH_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2):
            return url
    except Exception:
        return None


def fresh_database(admin_url: str, name: str) -> str:
    """Database `name` on the server of `admin_url`, dropped and recreated; its URL."""
    import psycopg

    from tests.servers import database_url

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(admin_url, name)


def makefile_command(target: str, marker: str) -> str:
    """The line of `make -n TARGET` that starts the server of `marker` (e.g. project.wsgi)."""
    shown = subprocess.run(
        ["make", "-n", "-s", target, f"VENV={sys.prefix}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # A recipe line continued with a backslash is one command (e.g. uvicorn's --workers).
    for line in shown.replace("\\\n", " ").splitlines():
        for command in re.split(r"\s(?:&|;|&&)\s", " ".join(line.split())):
            if marker in command:
                return command.rstrip("&;").strip()
    raise RuntimeError(f"`make -n {target}` starts nothing with {marker}:\n{shown}")


# --------------------------------------------------------------------------- processes


class Process:
    """A server process of the bench, in its own process group, ready when its port answers."""

    def __init__(self, label: str, command: str, env: dict[str, str], cwd: Path = ROOT) -> None:
        self.label = label
        self.port = free_port()
        self.command = command
        self.env = {**os.environ, **env, "PORT": str(self.port), "BIND": f"127.0.0.1:{self.port}"}
        self.cwd = cwd
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{label}-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str = "", timeout: float = 90) -> Process:
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {self.command}"],
            cwd=self.cwd,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited: {self.tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", ready_path or "/")
                conn.getresponse().read()
                conn.close()
                return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not answer in {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-3:])[-300:] or "(no output)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def prepare_project(env: dict[str, str]) -> list[str]:
    """Migrate and sync the project's database of `env`; the tokens of USERS bench users."""
    run_env = {**os.environ, **env}

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=run_env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr[-2000:]}")
        return done.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("yamlgraph", "sync")
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        "User = get_user_model()\n"
        f"names = [f'bench{{i}}' for i in range({USERS})]\n"
        "User.objects.bulk_create([User(username=n) for n in names], ignore_conflicts=True)\n"
        "users = User.objects.filter(username__in=names)\n"
        "Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users],"
        " ignore_conflicts=True)\n"
        "print('TOKENS', *Token.objects.filter(user__in=users).values_list('key', flat=True))\n"
    )
    shown = manage("shell", "-c", script).splitlines()
    return next(line.split()[1:] for line in shown if line.startswith("TOKENS "))


# --------------------------------------------------------------------------- clients


class Recorder:
    """Request latencies (seconds) of one system at one client count, every round."""

    def __init__(self) -> None:
        self.latencies: list[float] = []

    def timed(self, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = call()
        self.latencies.append(time.perf_counter() - start)
        return result


class HttpClient:
    """One keep-alive connection speaking JSON (reopened when the server closes it)."""

    def __init__(self, port: int, recorder: Recorder) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.recorder = recorder

    def post(self, path: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"

        def call() -> tuple[int, bytes]:
            self.conn.request("POST", path, json.dumps(body), headers)
            response = self.conn.getresponse()
            return response.status, response.read()

        status, raw = self.recorder.timed(call)
        if status not in (200, 201):
            raise RuntimeError(f"POST {path}: {status} {raw[:300]!r}")
        return json.loads(raw)


def api_session(client: HttpClient, token: str | None) -> None:
    """The API client program: start, then answer twice (our API and the HTTP floor)."""
    started = client.post("/api/sessions/", {"graph": "interview", "input": {}}, token)
    url = f"/api/sessions/{started['id']}/resume/"
    client.post(url, {"value": "Ada"}, token)
    done = client.post(url, {"value": "ship it"}, token)
    assert done["status"] == "completed", done


def protocol_session(client: HttpClient, token: str | None, prefix: str = "") -> None:
    """The protocol client program: a thread, its run, two `command.resume` (runs.wait)."""
    thread = client.post(f"{prefix}/threads", {}, token)["thread_id"]
    url = f"{prefix}/threads/{thread}/runs/wait"
    first = client.post(url, {"assistant_id": "interview", "input": {}}, token)
    assert first.get("__interrupt__"), first
    client.post(url, {"assistant_id": "interview", "command": {"resume": "Ada"}}, token)
    done = client.post(url, {"assistant_id": "interview", "command": {"resume": "ship it"}}, token)
    assert "summary" in done, done


# --------------------------------------------------------------------------- systems


@dataclass
class System:
    """One row: how a client thread runs a session against it, or why it cannot."""

    key: str
    label: str
    session_factory: Callable[[Recorder], Callable[[], None]] | None = None
    unavailable: str = ""
    results: dict[int, list[float]] = field(default_factory=dict)  # clients -> sessions/s
    recorders: dict[int, Recorder] = field(default_factory=dict)
    #: The end of its server's log, for a row that failed.
    log_tail: Callable[[], str] | None = None

    def best(self, clients: int) -> float | None:
        rounds = self.results.get(clients)
        return max(rounds) if rounds and not self.unavailable else None

    def round(self, clients: int, seconds: float) -> float | None:
        """One round; a failure makes the row say why instead of ending the section."""
        if self.unavailable or self.session_factory is None:
            return None
        try:
            return run_round(self, clients, seconds)
        except Exception as exc:
            log = f"; server log: {self.log_tail()}" if self.log_tail else ""
            self.unavailable = f"failed: {str(exc)[:200]}{log}"
            return None


def over_http(port: int, program: str, tokens: list[str] | None) -> Callable:
    """A session factory: each client thread its own connection; users taken in turn."""
    turn = itertools.cycle(tokens or [None])
    lock = threading.Lock()

    def factory(recorder: Recorder) -> Callable[[], None]:
        client = HttpClient(port, recorder)

        def session() -> None:
            with lock:
                token = next(turn)
            if program == "api":
                api_session(client, token)
            else:
                protocol_session(client, token, "/lg" if program == "lg" else "")

        return session

    return factory


def in_process(app: Any) -> Callable:
    """A session factory running the compiled raw graph in this process."""
    from langgraph.types import Command

    def factory(recorder: Recorder) -> Callable[[], None]:
        def session() -> None:
            config = {"configurable": {"thread_id": str(uuid.uuid4())}}
            recorder.timed(lambda: app.invoke({}, config, durability="sync"))
            recorder.timed(lambda: app.invoke(Command(resume="Ada"), config, durability="sync"))
            result = recorder.timed(
                lambda: app.invoke(Command(resume="ship it"), config, durability="sync")
            )
            assert "summary" in result, result

        return session

    return factory


def in_threads(count: int, job: Callable[[int], None]) -> None:
    """Run `job(0)` .. `job(count - 1)` in threads at once; raise the first error."""
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            job(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def run_round(system: System, clients: int, seconds: float) -> float:
    """Sessions/s of `clients` threads running sessions until `seconds` have passed."""
    recorder = system.recorders.setdefault(clients, Recorder())
    sessions = [system.session_factory(recorder) for _ in range(clients)]  # type: ignore[misc]
    done = [0] * clients
    start = time.perf_counter()
    deadline = start + seconds

    def run(index: int) -> None:
        while True:  # at least one session each, then until the deadline
            sessions[index]()
            done[index] += 1
            if time.perf_counter() >= deadline:
                return

    in_threads(clients, run)
    return sum(done) / (time.perf_counter() - start)


# --------------------------------------------------------------------------- stores


@dataclass
class Stores:
    """Where one saver section keeps things: our project's env, the floor's and raw savers."""

    name: str
    project_env: dict[str, str]
    floor_block: dict[str, Any]
    raw_block: dict[str, Any]


@contextlib.contextmanager
def saver_stores(name: str, directory: str, pg: str | None) -> Iterator[Stores]:
    """The stores of saver `name` (a Valkey started for redis; yg_bench_* for postgres)."""
    if name == "sqlite":
        yield Stores(
            name,
            {
                "DATABASE_URL": f"sqlite:///{directory}/meta.sqlite3",
                "YAMLGRAPH_CHECKPOINTER_URL": f"sqlite:///{directory}/api-cp.sqlite3",
            },
            {"type": "sqlite", "path": f"{directory}/floor-cp.sqlite3"},
            {"type": "sqlite", "path": f"{directory}/raw-cp.sqlite3"},
        )
    elif name == "redis":
        from tests.servers import ValkeyServer

        with ValkeyServer() as valkey:
            meta = (
                fresh_database(pg, "yg_bench_meta_redis")
                if pg
                else f"sqlite:///{directory}/meta-redis.sqlite3"
            )
            block = {"type": "redis", "url": valkey.url}
            yield Stores(
                name,
                {"DATABASE_URL": meta, "YAMLGRAPH_CHECKPOINTER_URL": valkey.url},
                block,
                block,
            )
    elif name == "postgres":
        if not pg:
            raise RuntimeError("no Postgres answers at 127.0.0.1:5432 (BENCH_POSTGRES_URL)")
        yield Stores(
            name,
            {
                "DATABASE_URL": fresh_database(pg, "yg_bench_meta"),
                "YAMLGRAPH_CHECKPOINTER_URL": fresh_database(pg, "yg_bench_api_cp"),
            },
            {"type": "postgres", "url": fresh_database(pg, "yg_bench_floor_cp")},
            {"type": "postgres", "url": fresh_database(pg, "yg_bench_raw_cp")},
        )
    else:
        raise RuntimeError(f"unknown saver {name!r} (sqlite, redis, postgres)")


# --------------------------------------------------------------------------- a section


def start_peers(stack: contextlib.ExitStack, pg: str | None, directory: str) -> list[System]:
    """The dev server and Aegra rows, each running or saying why it is not."""
    rows = []
    config = peers.graph_config(Path(directory) / "peers")
    quiet = {
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LOG_LEVEL": "WARNING",
    }
    for peer, key in ((peers.DEV_SERVER, "devserver"), (peers.AEGRA, "aegra")):
        label = "LangGraph dev server (in memory)" if key == "devserver" else "Aegra (Postgres)"
        try:
            version = peer.install()
            label = label.replace(" (", f" {version} (")
            if key == "devserver":
                command = (
                    f"{peer.bin('langgraph')} dev --no-browser --no-reload --host 127.0.0.1"
                    f" --port $PORT --config {config} --allow-blocking"
                )
                env = quiet
            else:
                if not pg:
                    raise peers.PeerUnavailable("not runnable: no Postgres at 127.0.0.1:5432")
                command = f"{peer.bin('python')} -m uvicorn aegra_api.main:app --port $PORT"
                env = {
                    **quiet,
                    "DATABASE_URL": fresh_database(pg, "yg_bench_aegra"),
                    "AEGRA_CONFIG": str(config),
                }
            process = Process(key, command, env, cwd=config.parent)
            stack.callback(process.stop)
            try:
                process.start("/ok", timeout=120)
            except RuntimeError as exc:
                raise peers.PeerUnavailable(f"not runnable: {exc}") from None
            rows.append(
                System(key, label, over_http(process.port, "peer", None), log_tail=process.tail)
            )
        except peers.PeerUnavailable as exc:
            rows.append(System(key, label, unavailable=str(exc)))
    return rows


def section(
    stores: Stores, args: argparse.Namespace, with_peers: bool, pg: str | None, directory: str
) -> list[System]:
    """Start every server of one saver, run the interleaved rounds, return the rows."""
    from bench.engine import raw_interview
    from yamlgraph.storage import close_checkpointer, get_checkpointer

    wsgi = makefile_command("serve", "project.wsgi")
    asgi = makefile_command("run", "project.asgi")
    floor_env = {"BENCH_FLOOR_CHECKPOINTER": json.dumps(stores.floor_block)}
    project_env = {**stores.project_env, "DJANGO_DEBUG": "0"}
    tokens = prepare_project(project_env)
    systems: list[System] = []
    with contextlib.ExitStack() as stack:
        saver = get_checkpointer(stores.raw_block)
        stack.callback(close_checkpointer, saver)
        systems.append(
            System(
                "graph",
                "raw LangGraph in process (graph floor)",
                in_process(raw_interview().compile(checkpointer=saver)),
            )
        )
        servers = (
            (
                "floor-wsgi",
                "HTTP floor: bare WSGI, `make serve` server",
                wsgi.replace("project.wsgi", "bench.floor:wsgi_app"),
                floor_env,
                "api",
            ),
            (
                "floor-asgi",
                "HTTP floor: bare ASGI, `make run` server",
                asgi.replace("project.asgi:application", "bench.floor:asgi_app"),
                floor_env,
                "api",
            ),
            ("api-wsgi", "ours: DRF API, gunicorn (`make serve`)", wsgi, project_env, "api"),
            ("api-asgi", "ours: DRF API, ASGI (`make run`)", asgi, project_env, "api"),
        )
        started: dict[str, Process] = {}
        for key, label, command, env, program in servers:
            process = Process(key, command, env)
            stack.callback(process.stop)
            process.start()
            started[key] = process
            systems.append(
                System(key, label, over_http(process.port, program, tokens), log_tail=process.tail)
            )
        for key, label, server in (
            ("lg-wsgi", "ours: /lg/ runs.wait, gunicorn", started["api-wsgi"]),
            ("lg-asgi", "ours: /lg/ runs.wait, ASGI", started["api-asgi"]),
        ):
            systems.append(
                System(key, label, over_http(server.port, "lg", tokens), log_tail=server.tail)
            )
        if with_peers:
            systems += start_peers(stack, pg, directory)
        for system in systems:  # warm every worker: imports, compiled graph, saver, caches
            system.round(1, 0)  # one session first: a fresh store is set up by one process
            system.round(8, min(args.seconds, 2.0))
            system.recorders.clear()
        for clients in (1, 8):
            for _ in range(args.rounds):
                for system in systems:
                    rate = system.round(clients, args.seconds)
                    if rate is not None:
                        system.results.setdefault(clients, []).append(rate)
    return systems


def report(name: str, systems: list[System], args: argparse.Namespace) -> None:
    """The section's table and its goals, each met or unmet."""

    def cell(system: System, clients: int) -> str:
        rate = system.best(clients)
        latencies = system.recorders[clients].latencies
        p50 = statistics.median(latencies) * 1000
        p95 = statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 1 else p50
        return f"{rate:8.1f}/s {p50:6.1f} {p95:7.1f} ms"

    print(
        f"\n[{name}] sessions/s (best of {args.rounds} rounds of {args.seconds:g} s);"
        " p50 p95 per request"
    )
    print(f"  {'system':52} {'1 client':>25} {'8 clients':>25}")
    for system in systems:
        if system.unavailable:
            print(f"  {system.label:52} {system.unavailable}")
        else:
            print(f"  {system.label:52} {cell(system, 1):>25} {cell(system, 8):>25}")
    by_key = {s.key: s for s in systems}
    print(f"  goals ({name}):")
    for label, top, bottom, counts, minimum in GOALS:
        if top not in by_key or bottom not in by_key:
            continue
        for clients in counts:
            a, b = by_key[top].best(clients), by_key[bottom].best(clients)
            if a is None or b is None:
                why = by_key[top].unavailable or by_key[bottom].unavailable
                print(
                    f"    {label:42} {clients} cl: -      goal >= {minimum}x: not measured ({why})"
                )
                continue
            ratio = a / b
            verdict = "met" if ratio >= minimum else "unmet"
            print(f"    {label:42} {clients} cl: {ratio:5.2f}x goal >= {minimum}x: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--savers", default=os.environ.get("BENCH_SAVERS") or "sqlite,redis,postgres"
    )
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    names = [name.strip() for name in args.savers.split(",") if name.strip()]
    print(
        f"server commands: `{makefile_command('serve', 'project.wsgi')}`;"
        f" `{makefile_command('run', 'project.asgi')}` (from `make -n serve` / `make -n run`)"
    )
    pg = postgres_url()
    with tempfile.TemporaryDirectory() as directory:
        for index, name in enumerate(names):
            started = time.monotonic()
            try:
                with saver_stores(name, directory, pg) as stores:
                    systems = section(stores, args, index == 0 and not args.no_peers, pg, directory)
            except Exception as exc:  # one saver that cannot run does not hide the others
                print(f"\n[{name}] not runnable: {exc}")
                continue
            report(name, systems, args)
            print(f"  ({name} took {time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
