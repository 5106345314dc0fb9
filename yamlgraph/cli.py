"""`python -m yamlgraph validate|run|mermaid`: the engine without Django."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
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
        values[key] = value
    return values


_VAR_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def typed_vars(config: Any, raw: dict[str, str]) -> dict[str, Any]:
    """`--var` texts as the state's declared types; a text that is not one names the field."""
    fields = config.public_state_fields
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise ValueError(f"unknown state field(s) {', '.join(unknown)} (known: {known})")
    values: dict[str, Any] = {}
    for key, text in raw.items():
        declared = fields[key].type
        if declared == "str":
            values[key] = text
            continue
        value = parse_answer(text)
        wanted = _VAR_TYPES.get(declared)
        wrong_bool = declared in {"int", "float"} and isinstance(value, bool)
        if wanted and (not isinstance(value, wanted) or wrong_bool):
            raise ValueError(
                f"--var {key}={text}: state field '{key}' is {declared}, and {text!r} is not"
                f" {'an' if declared == 'int' else 'a'} {declared}"
            )
        values[key] = value
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


#: Where `run` keeps checkpoints of graphs that name no persistent checkpointer.
DEFAULT_CLI_CHECKPOINTS = Path(".yamlgraph") / "checkpoints.sqlite3"


def _cli_saver(config: Any, checkpoints: Path, stdout: TextIO) -> Any:
    """The graph's own persistent saver, or a SQLite file, so `--thread` can resume."""
    from yamlgraph.graph_loader import get_checkpointer_for_graph

    if config.checkpointer and config.checkpointer.get("type") != "memory":
        return get_checkpointer_for_graph(config)
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    checkpoints.parent.mkdir(parents=True, exist_ok=True)
    print(f"checkpoints: {checkpoints}", file=stdout)
    return SqliteSaver(sqlite3.connect(str(checkpoints), check_same_thread=False))


def run_interactive(
    path: str,
    thread_id: str,
    variables: dict[str, str],
    stdin: TextIO,
    stdout: TextIO,
    checkpoints: Path = DEFAULT_CLI_CHECKPOINTS,
    export_dir: Path | None = None,
) -> int:
    """Run a graph, asking each interrupt's question on stdout and reading answers from stdin."""
    from langgraph.types import Command

    from yamlgraph.graph_loader import compile_graph, load_graph_config

    config = load_graph_config(path)
    values = typed_vars(config, variables)
    print(f"thread: {thread_id}", file=stdout)
    app = compile_graph(config).compile(checkpointer=_cli_saver(config, checkpoints, stdout))
    run_config = {"configurable": {"thread_id": thread_id}}
    hint = f"resume with --thread {thread_id}"
    snapshot = app.get_state(run_config)
    result = app.invoke(None if snapshot.next else values, run_config)
    while result.get("__interrupt__"):
        answers: dict[str, Any] = {}
        for item in result["__interrupt__"]:
            print(f"? {_show(item.value)}", file=stdout, flush=True)
            if stdin.isatty():
                print("> ", end="", file=stdout, flush=True)
            try:
                line = stdin.readline()
            except KeyboardInterrupt:
                print(f"\n(stopped; {hint})", file=stdout)
                return 130
            if not line:
                print(f"(no more input; {hint})", file=stdout)
                return 0
            answers[item.id] = parse_answer(line.rstrip("\n"))
        # by interrupt id: a map whose items pause needs to know which one is answered
        result = app.invoke(Command(resume=answers), run_config)
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    print(json.dumps(public, indent=2, default=str), file=stdout)
    if export_dir is not None and config.exports:
        from yamlgraph.exports import write_exports

        for written in write_exports(config.exports, public, thread_id, export_dir):
            print(f"exported: {written}", file=stdout)
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
    run.add_argument(
        "--checkpoints",
        type=Path,
        default=DEFAULT_CLI_CHECKPOINTS,
        help="SQLite file for graphs without a persistent checkpointer"
        f" (default: {DEFAULT_CLI_CHECKPOINTS})",
    )
    run.add_argument(
        "--export",
        nargs="?",
        type=Path,
        const=Path("outputs"),
        metavar="DIR",
        help="write the graph's `exports:` to DIR/THREAD/ when the run ends (default: outputs)",
    )
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
        try:
            return run_interactive(
                args.path,
                thread,
                parse_vars(args.var),
                stdin or sys.stdin,
                stdout,
                args.checkpoints,
                args.export,
            )
        except KeyboardInterrupt:  # Ctrl-C while a node runs: the last checkpoint stays
            print(f"\n(stopped; resume with --thread {thread})", file=stdout)
            return 130
    except GraphValidationError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    except (GraphRuntimeError, ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
