"""What one gunicorn worker holds: its RSS after 1, 500 and 5,000 interview sessions.

The server is `make serve`'s command line with WORKERS=1, on SQLite files (or the first
saver of BENCH_SAVERS), driven by 8 API clients; a session is start + 2 answers. The
goal (issue 22): flat within 10 MB from 500 to 5,000 sessions.

    .venv/bin/python -m bench.memory [--checkpoints 500,5000] [--saver sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http import (  # noqa: E402
    Process,
    Recorder,
    in_threads,
    makefile_command,
    over_http,
    postgres_url,
    prepare_project,
    saver_stores,
)

FLAT_MB = 10


def rss_mb(pid: int) -> float:
    """Resident set size of process `pid`, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pid(master: int) -> int:
    """The one worker of gunicorn's master `master`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def run_sessions(port: int, tokens: list[str], count: int, clients: int = 8) -> None:
    """`count` API sessions shared by `clients` threads."""
    new_session = over_http(port, "api", tokens)
    lock = threading.Lock()
    left = [count]

    def run(_index: int) -> None:
        session = new_session(Recorder())
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            session()

    in_threads(clients, run)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoints", default="500,5000", help="session counts to read RSS at")
    parser.add_argument(
        "--saver", default=(os.environ.get("BENCH_SAVERS") or "sqlite").split(",")[0].strip()
    )
    args = parser.parse_args()
    checkpoints = sorted(int(n) for n in args.checkpoints.split(","))
    command = makefile_command("serve", "project.wsgi")
    with (
        tempfile.TemporaryDirectory() as directory,
        saver_stores(args.saver, directory, postgres_url()) as stores,
        contextlib.ExitStack() as stack,
    ):
        env = {**stores.project_env, "DJANGO_DEBUG": "0", "WORKERS": "1"}
        tokens = prepare_project(env)
        server = Process("memory", command, env)
        stack.callback(server.stop)
        server.start()
        worker = worker_pid(server.process.pid)  # type: ignore[union-attr]
        print(f"one gunicorn worker (`make serve`, WORKERS=1), {args.saver}, 8 API clients")
        run_sessions(server.port, tokens, 1, clients=1)
        print(f"  after {1:>6,} session : {rss_mb(worker):7.1f} MB RSS")
        done, readings = 1, []
        for target in checkpoints:
            started = time.monotonic()
            run_sessions(server.port, tokens, target - done)
            done = target
            readings.append(rss_mb(worker))
            print(
                f"  after {target:>6,} sessions: {readings[-1]:7.1f} MB RSS"
                f"  ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
        growth = readings[-1] - readings[0]
        verdict = "met" if growth <= FLAT_MB else "unmet"
        print(
            f"  growth {checkpoints[0]:,} -> {checkpoints[-1]:,}: {growth:+.1f} MB"
            f" (goal: within {FLAT_MB} MB: {verdict})"
        )


if __name__ == "__main__":
    main()
