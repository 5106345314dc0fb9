"""Service overhead: interview sessions through `yamlgraph_django.services` vs raw LangGraph.

Both sides use a SQLite checkpointer file; the service side also keeps its metadata rows
(Session, Run) in a SQLite database and does its compare-and-set updates. One process,
same machine, interleaved rounds; we print sessions/s and the ratio.

It also profiles warm API resumes in process (cProfile, DEBUG=0, token auth) and prints
their top costs: by cumulative time below the request's own wrappers, and by own time.

    .venv/bin/python -m bench.service [--sessions 100] [--rounds 3] [--profiled 20]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(directory: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DATABASE_URL"] = f"sqlite:///{directory}/bench.sqlite3"
    import django
    from django.conf import settings

    django.setup()
    settings.YAMLGRAPH = {
        "GRAPH_DIRS": [ROOT / "graphs"],
        "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": f"{directory}/service-cp.sqlite3"},
    }
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from yamlgraph_django.conf import app_settings

    app_settings.reload()


def run_service(count: int) -> float:
    from yamlgraph_django import services

    start = time.perf_counter()
    for _ in range(count):
        session = services.start_session("interview", {})
        services.resume_session(session, "Ada")
        session = services.resume_session(session, "ship it")
        assert session.status == "completed", session.status
    return time.perf_counter() - start


def run_raw(app, count: int, prefix: str) -> float:
    from langgraph.types import Command

    start = time.perf_counter()
    for index in range(count):
        config = {"configurable": {"thread_id": f"{prefix}-{index}"}}
        # durability="sync", as the service runs (see services.engine.DURABILITY)
        app.invoke({}, config, durability="sync")
        app.invoke(Command(resume="Ada"), config, durability="sync")
        app.invoke(Command(resume="ship it"), config, durability="sync")
    return time.perf_counter() - start


def count_per_request() -> str:
    """SQL statements and checkpoint reads of one warm API start and resume (token auth)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from yamlgraph_django.models import GraphDefinition
    from yamlgraph_django.services import stores

    user = get_user_model().objects.create(username="bench-counts")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    saver = stores.saver_for(GraphDefinition.objects.get(name="interview", is_latest=True))
    reads: list[object] = []
    original = saver.get_tuple
    saver.get_tuple = lambda config: reads.append(config) or original(config)
    try:
        client.post("/api/sessions/", {"graph": "interview", "input": {}}, format="json")
        with CaptureQueriesContext(connection) as start:
            body = client.post("/api/sessions/", {"graph": "interview"}, format="json").json()
        reads.clear()
        with CaptureQueriesContext(connection) as resume:
            client.post(f"/api/sessions/{body['id']}/resume/", {"value": "Ada"}, format="json")
    finally:
        del saver.get_tuple
    return (
        "per warm API request (token auth, SQLite)\n"
        f"  start : {len(start)} SQL statements (goal <= 7: 6 + the event log)\n"
        f"  resume: {len(resume)} SQL statements (goal <= 7), {len(reads)} get_tuple (goal <= 2)"
    )


def short(path: str) -> str:
    """A source path without the interpreter's and the project's prefixes."""
    return re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", path).replace(f"{ROOT}/", "")


def profile_resumes(count: int, top: int = 25) -> str:
    """The top costs of `count` warm API resumes (each a session's first answer)."""
    import cProfile
    import pstats

    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = get_user_model().objects.create(username="bench-profile")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    def start() -> str:
        return client.post("/api/sessions/", {"graph": "interview"}, format="json").json()["id"]

    def resume(session_id: str) -> None:
        answered = client.post(
            f"/api/sessions/{session_id}/resume/", {"value": "Ada"}, format="json"
        )
        assert answered.status_code == 200, answered.content

    for _ in range(3):  # warm: compiled graph, saver, caches, first-call imports
        resume(start())
    ids = [start() for _ in range(count)]
    profiler = cProfile.Profile()
    wall = time.perf_counter()
    for session_id in ids:
        profiler.enable()
        resume(session_id)
        profiler.disable()
    wall = (time.perf_counter() - wall) / count * 1000
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [
        (cumulative / count * 1000, own / count * 1000, calls / count, f"{short(f)}:{n}({fn})")
        for (f, n, fn), (_prim, calls, own, cumulative, _callers) in stats.items()
    ]
    total = max(row[0] for row in rows)
    # The request's own wrappers (handler, middleware, dispatch) each cost ~all of it.
    below = sorted((r for r in rows if r[0] < 0.9 * total), reverse=True)[:top]
    by_own = sorted(rows, key=lambda r: r[1], reverse=True)[:15]
    lines = [
        f"profile of {count} warm API resumes in process (DEBUG=0, token auth, SQLite):"
        f" {wall:.1f} ms each (profiled {total:.1f} ms)",
        f"  top {top} by cumulative time below the request wrappers (ms per resume, share, calls):",
    ]
    lines += [f"    {c:6.2f} ms {c / total:4.0%} {n:6.1f}  {name}" for c, _o, n, name in below]
    lines.append("  top 15 by own time (ms per resume, share, calls):")
    lines += [f"    {o:6.2f} ms {o / total:4.0%} {n:6.1f}  {name}" for _c, o, n, name in by_own]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profiled", type=int, default=20, help="resumes in the profile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        setup_django(directory)
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        from bench.engine import raw_interview

        conn = sqlite3.connect(f"{directory}/raw-cp.sqlite3", check_same_thread=False)
        raw = raw_interview().compile(checkpointer=SqliteSaver(conn))
        run_raw(raw, 5, "warm")
        run_service(5)
        raw_times, service_times = [], []
        for round_ in range(args.rounds):
            raw_times.append(run_raw(raw, args.sessions, f"r{round_}"))
            service_times.append(run_service(args.sessions))
        counts = count_per_request()
        profile = profile_resumes(args.profiled)
    raw_best, service_best = min(raw_times), min(service_times)
    print(f"interview sessions (start + 2 answers), {args.sessions} per round, SQLite files")
    print(f"  raw LangGraph          : {args.sessions / raw_best:8.1f} sessions/s")
    print(f"  yamlgraph_django service: {args.sessions / service_best:8.1f} sessions/s")
    print(f"  ratio service/raw time : {service_best / raw_best:.2f}x")
    print(counts)
    print(profile)


if __name__ == "__main__":
    main()
