"""List pages and prune at 100,000 sessions, on SQLite and on Postgres.

Seeds N sessions (rows written in bulk; each with one real checkpoint, copied from a
real run of the interview graph into the saver's own tables), then times:

- the admin sessions list, first page and page 500 (a superuser, 25 rows a page);
- the API list, unfiltered and with `?metadata__team=web` (staff token, 20 a page);
- the inbox of a member of one of 100 groups (every session has an open question, one
  in ten overdue; 1,000 wait for the member): `/api/inbox/`, `?overdue=true`, and the
  admin's "Waiting for me" (50 shown);
- `prune` of all N (expired) sessions with their checkpoints.

    .venv/bin/python -m bench.scale [--sessions 100000] [--databases sqlite,postgres]

Each database runs in its own process (Django settings are per process). Goals: list
pages < 50 ms, prune < 60 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIST_GOAL_MS = 50
#: Groups the seeded questions are spread over: a member of one has 1 in INBOX_GROUPS
#: of all open questions waiting (1,000 of 100,000: a busy team's inbox).
INBOX_GROUPS = 100
PRUNE_GOAL_S = 60


def setup(database_url: str, checkpointer: dict) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_DEBUG"] = "0"
    import django
    from django.conf import settings

    django.setup()
    settings.YAMLGRAPH = {
        "GRAPH_DIRS": [ROOT / "graphs"],
        "DEFAULT_CHECKPOINTER": checkpointer,
        "SESSION_TTL_MINUTES": 60,
    }
    settings.ALLOWED_HOSTS = ["*"]
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from yamlgraph_django.conf import app_settings

    app_settings.reload()


def seed(count: int) -> None:
    """`count` expired sessions of the interview graph, each with one real checkpoint."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from yamlgraph_django import services
    from yamlgraph_django.models import Run, Session

    users = [get_user_model().objects.create(username=f"user{i}") for i in range(10)]
    groups = [Group.objects.create(name=f"team{i}") for i in range(INBOX_GROUPS)]
    template = services.start_session("interview", {"topic": "scale"}, owner=users[0])
    past = timezone.now() - dt.timedelta(days=1)
    batch = 5000
    thread_ids: list[str] = []
    for start in range(0, count, batch):
        rows = []
        for i in range(start, min(count, start + batch)):
            pk = uuid.uuid4()
            rows.append(
                Session(
                    id=pk,
                    thread_id=str(pk),
                    graph=template.graph,
                    owner=users[i % len(users)],
                    status="interrupted",
                    input={"topic": "scale"},
                    interrupts=template.interrupts,
                    metadata={"team": ["web", "ops", "data", "mobile"][i % 4], "n": i},
                    expires_at=past,
                )
            )
            thread_ids.append(str(pk))
        Session.objects.bulk_create(rows)
        Run.objects.bulk_create(
            [Run(session=s, kind="start", channel="api", status="succeeded") for s in rows]
        )
        seed_questions(rows, groups, users, start)
    Session.objects.filter(pk=template.pk).update(expires_at=past)
    copy_checkpoints(template.thread_id, thread_ids, template.graph)


def seed_questions(sessions, groups, users, offset: int) -> None:
    """One open question per session: assigned to one of INBOX_GROUPS groups, one in a
    hundred also to a user by name; one in ten overdue."""
    from django.utils import timezone

    from yamlgraph_django.models import Question

    now = timezone.now()
    questions = [
        Question(
            session=session,
            interrupt_id=session.interrupts[0]["id"],
            node="ask_name",
            graph_name=session.graph.name,
            text="Hi! What is your name?",
            value=session.interrupts[0]["value"],
            assigned=True,
            due_at=now + dt.timedelta(days=1 if (offset + i) % 10 else -1),
        )
        for i, session in enumerate(sessions)
    ]
    Question.objects.bulk_create(questions)
    by_group = Question.groups.through
    by_user = Question.users.through
    by_group.objects.bulk_create(
        [
            by_group(question_id=q.pk, group_id=groups[(offset + i) % len(groups)].pk)
            for i, q in enumerate(questions)
        ]
    )
    by_user.objects.bulk_create(
        [
            by_user(question_id=q.pk, user_id=users[(offset + i) % len(users)].pk)
            for i, q in enumerate(questions)
            if (offset + i) % 100 == 0
        ]
    )


def copy_checkpoints(source: str, thread_ids: list[str], graph) -> None:
    """Copy the template thread's checkpoint rows to every seeded thread, in bulk."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    from yamlgraph_django.services import stores

    saver = stores.saver_for(graph)
    if isinstance(saver, SqliteSaver):
        with saver.cursor() as cur:
            for table in ("checkpoints", "writes"):
                cols = [r[1] for r in cur.execute(f"PRAGMA table_info({table})").fetchall()]
                rows = cur.execute(
                    f"SELECT {', '.join(cols)} FROM {table} WHERE thread_id = ?", (source,)
                ).fetchall()
                index = cols.index("thread_id")
                marks = ", ".join("?" * len(cols))
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                    [(*r[:index], t, *r[index + 1 :]) for t in thread_ids for r in rows],
                )
    elif isinstance(saver, PostgresSaver):
        from contextlib import nullcontext

        from psycopg_pool import ConnectionPool

        pool_or_conn = saver.conn
        if isinstance(pool_or_conn, ConnectionPool):
            context = pool_or_conn.connection()
        else:
            context = nullcontext(pool_or_conn)
        with context as conn, conn.cursor() as cur:
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                cur.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
                cols = [r["column_name"] for r in cur.fetchall()]
                others = ", ".join(c for c in cols if c != "thread_id")
                cur.execute(
                    f"INSERT INTO {table} (thread_id, {others}) "
                    f"SELECT t, {others} FROM {table}, unnest(%s::text[]) AS t "
                    "WHERE thread_id = %s",
                    (thread_ids, source),
                )


def best_ms(fetch, repeat: int = 5) -> float:
    fetch()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fetch()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(name: str, count: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from yamlgraph_django import services
    from yamlgraph_django.models import Question, Session

    seed(count)
    if connection.vendor == "postgresql":  # as autovacuum would after a bulk load
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    total = Session.objects.count()
    admin = get_user_model().objects.create_superuser("bench-admin", "a@example.com", "x")
    browser = Client()
    browser.force_login(admin)
    token = Token.objects.create(user=admin).key
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def ok(response):
        assert response.status_code == 200, (response.status_code, response.content[:300])
        return response

    far = max(1, min(500, total // 25))
    pages = {
        "admin list, page 1": lambda: ok(browser.get("/admin/yamlgraph_django/session/")),
        f"admin list, page {far}": lambda: ok(
            browser.get(f"/admin/yamlgraph_django/session/?p={far}")
        ),
        "admin search key=value": lambda: ok(
            browser.get("/admin/yamlgraph_django/session/?q=team%3Dweb")
        ),
        "API list": lambda: ok(api.get("/api/sessions/")),
        "API ?metadata__team=web": lambda: ok(api.get("/api/sessions/?metadata__team=web")),
    }
    member = get_user_model().objects.create_user("bench-member")
    member.groups.add(Group.objects.get(name="team3"))
    member_token = Token.objects.create(user=member).key
    inbox_api = Client(HTTP_AUTHORIZATION=f"Token {member_token}")
    member.is_staff = True
    member.save()
    inbox_admin = Client()
    inbox_admin.force_login(member)
    pages["API inbox (1% of all)"] = lambda: ok(inbox_api.get("/api/inbox/"))
    pages["API inbox ?overdue=true"] = lambda: ok(inbox_api.get("/api/inbox/?overdue=true"))
    pages["admin Waiting for me"] = lambda: ok(
        inbox_admin.get("/admin/yamlgraph_django/question/inbox/")
    )
    print(f"{name}: {total:,} sessions, {Question.objects.count():,} questions")
    with CaptureQueriesContext(connection) as queries:
        ok(inbox_api.get("/api/inbox/"))
    print(f"  API inbox page: {len(queries)} queries")
    for label, fetch in pages.items():
        ms = best_ms(fetch)
        verdict = "ok" if ms < LIST_GOAL_MS else "over goal"
        print(f"  {label:26}: {ms:7.1f} ms (goal < {LIST_GOAL_MS} ms: {verdict})")
    start = time.perf_counter()
    deleted = services.prune_expired()
    seconds = time.perf_counter() - start
    verdict = "ok" if seconds < PRUNE_GOAL_S else "over goal"
    print(
        f"  prune {deleted:,} sessions + checkpoints: {seconds:6.1f} s "
        f"(goal < {PRUNE_GOAL_S} s: {verdict}); left: {Session.objects.count()}"
    )


def child(database: str, count: int, directory: str) -> None:
    if database == "sqlite":
        setup(
            f"sqlite:///{directory}/scale.sqlite3",
            {"type": "sqlite", "path": f"{directory}/scale-cp.sqlite3"},
        )
    else:
        from bench.http import fresh_database, postgres_url

        server = postgres_url()
        assert server, "no Postgres"
        meta = fresh_database(server, "yg_bench_scale")
        checkpoints = fresh_database(server, "yg_bench_scale_cp")
        setup(meta, {"type": "postgres", "url": checkpoints})
    measure(database, count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--child", default=None)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.sessions, args.dir)
        return
    from bench.http import postgres_url

    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        if database == "postgres" and not postgres_url():
            print("postgres: skipped (no server at DATABASE_URL)")
            continue
        with tempfile.TemporaryDirectory() as directory:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.scale",
                    "--child",
                    database,
                    "--sessions",
                    str(args.sessions),
                    "--dir",
                    directory,
                ],
                cwd=ROOT,
                check=True,
            )


if __name__ == "__main__":
    main()
