"""Engine overhead: the interview graph from YAML vs the same graph written in raw LangGraph.

Both run the same work (two interrupts, two resumes, one fake-LLM call) on the same
checkpointer, in one process, interleaved; we print sessions/s and the ratio.

    .venv/bin/python bench/engine.py [--sessions 300] [--saver memory|sqlite]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import interview  # noqa: E402
from yamlgraph.graph_loader import compile_graph, load_graph_config  # noqa: E402
from yamlgraph.llm import FakeChatModel  # noqa: E402


def raw_interview():
    """The hand-written LangGraph twin of graphs/interview.yaml, on yamlgraph's fake model."""
    return interview.build(FakeChatModel())


def yaml_interview():
    return compile_graph(load_graph_config(ROOT / "graphs" / "interview.yaml"))


def make_saver(kind: str, directory: str, label: str):
    if kind == "memory":
        return InMemorySaver()
    conn = sqlite3.connect(f"{directory}/{label}.sqlite3", check_same_thread=False)
    return SqliteSaver(conn)


def run_sessions(app, count: int, prefix: str) -> float:
    start = time.perf_counter()
    for index in range(count):
        config = {"configurable": {"thread_id": f"{prefix}-{index}"}}
        app.invoke({}, config)
        app.invoke(Command(resume="Ada"), config)
        result = app.invoke(Command(resume="ship it"), config)
        assert result["summary"] == "Summary: Ada wants to ship it.", result
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--saver", choices=["memory", "sqlite"], default="memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        raw = raw_interview().compile(checkpointer=make_saver(args.saver, directory, "raw"))
        yml = yaml_interview().compile(checkpointer=make_saver(args.saver, directory, "yaml"))
        run_sessions(raw, 10, "warm-raw")
        run_sessions(yml, 10, "warm-yaml")
        raw_times, yaml_times = [], []
        for round_ in range(args.rounds):
            raw_times.append(run_sessions(raw, args.sessions, f"raw{round_}"))
            yaml_times.append(run_sessions(yml, args.sessions, f"yaml{round_}"))
    raw_best, yaml_best = min(raw_times), min(yaml_times)
    print(f"interview graph, {args.sessions} sessions x 3 invokes, saver={args.saver}")
    print(f"  raw LangGraph : {args.sessions / raw_best:8.1f} sessions/s (best of {args.rounds})")
    print(f"  yamlgraph     : {args.sessions / yaml_best:8.1f} sessions/s (best of {args.rounds})")
    print(f"  ratio yamlgraph/raw time: {yaml_best / raw_best:.2f}x")
    print(f"  median ratio: {statistics.median(yaml_times) / statistics.median(raw_times):.2f}x")


if __name__ == "__main__":
    main()
