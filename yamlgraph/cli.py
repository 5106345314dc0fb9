"""`python -m yamlgraph validate|run|mermaid`: the engine without Django."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from yamlgraph.errors import GraphRuntimeError, GraphValidationError, ValidationIssue


def parse_answer(text: str) -> Any:
    """An answer that parses as JSON is given as that value; anything else as text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_vars(pairs: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--var needs key=value, got {pair!r}")
        values[key] = parse_answer(value)
    return values


def validate_files(paths: Sequence[str]) -> list[ValidationIssue]:
    """Every issue in every file (the checkpointer block's `${VAR}`s included)."""
    from yamlgraph.graph_loader import load_graph_config

    issues: list[ValidationIssue] = []
    for path in paths:
        try:
            load_graph_config(path)
        except GraphValidationError as exc:
            issues.extend(exc.issues)
    return issues


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, default=str)


def run_interactive(
    path: str, thread_id: str, variables: dict[str, Any], stdin: TextIO, stdout: TextIO
) -> int:
    """Run a graph, asking each interrupt's question on stdout and reading answers from stdin."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from yamlgraph.graph_loader import compile_graph, get_checkpointer_for_graph, load_graph_config

    config = load_graph_config(path)
    unknown = sorted(set(variables) - set(config.public_state_fields))
    if unknown:
        known = ", ".join(sorted(config.public_state_fields)) or "none"
        raise ValueError(f"unknown state field(s) {', '.join(unknown)} (known: {known})")
    saver = get_checkpointer_for_graph(config) or InMemorySaver()
    app = compile_graph(config).compile(checkpointer=saver)
    run_config = {"configurable": {"thread_id": thread_id}}
    print(f"thread: {thread_id}", file=stdout)
    snapshot = app.get_state(run_config)
    result = app.invoke(None if snapshot.next else variables, run_config)
    while result.get("__interrupt__"):
        pending = result["__interrupt__"]
        answers: dict[str, Any] = {}
        for item in pending:
            print(f"? {_show(item.value)}", file=stdout)
            if stdin.isatty():
                print("> ", end="", file=stdout, flush=True)
            line = stdin.readline()
            if not line:
                print(f"(no more input; resume with --thread {thread_id})", file=stdout)
                return 0
            answers[item.id] = parse_answer(line.rstrip("\n"))
        resume = next(iter(answers.values())) if len(answers) == 1 else answers
        result = app.invoke(Command(resume=resume), run_config)
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    print(json.dumps(public, indent=2, default=str), file=stdout)
    return 0


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m yamlgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check graph files; exit 1 on any error")
    validate.add_argument("paths", nargs="+")
    run = commands.add_parser("run", help="run a graph, answering interrupts on stdin")
    run.add_argument("path")
    run.add_argument("--thread", help="thread id (generated and printed when omitted)")
    run.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    mermaid = commands.add_parser("mermaid", help="print the graph as a Mermaid flowchart")
    mermaid.add_argument("path")
    args = parser.parse_args(argv)
    stdout = sys.stdout
    try:
        if args.command == "validate":
            issues = validate_files(args.paths)
            for issue in issues:
                print(issue, file=stdout)
            if not issues:
                print(f"ok: {len(args.paths)} file(s) valid", file=stdout)
            return 1 if issues else 0
        if args.command == "mermaid":
            from yamlgraph.graph_loader import load_graph_config
            from yamlgraph.mermaid import to_mermaid

            print(to_mermaid(load_graph_config(args.path)), end="", file=stdout)
            return 0
        thread = args.thread or f"cli-{uuid.uuid4()}"
        return run_interactive(args.path, thread, parse_vars(args.var), stdin or sys.stdin, stdout)
    except GraphValidationError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    except (GraphRuntimeError, ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
