"""`manage.py yamlgraph`: list, validate, sync and run graphs; inspect, resume, prune and
recover sessions. Mirrors the engine's `python -m yamlgraph` CLI, but on the project's
registry and session store.

Every subcommand goes through the registry or the session service (never LangGraph), and
every failure ends as a CommandError with a one-line reason: exit status 1 and no
traceback, so scripts and cron jobs can rely on the exit status.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from yamlgraph.answers import pick_choice, question_as_text
from yamlgraph_django import registry, services
from yamlgraph_django.exceptions import InvalidInput, YamlgraphError
from yamlgraph_django.models import GraphDefinition, RunChannel, Session, SessionStatus

CHANNEL = RunChannel.COMMAND
_DURATION = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class Command(BaseCommand):
    help = (
        "Work with YAML graphs and their sessions: graphs, validate, sync, run, resume, "
        "sessions, prune, recover. `manage.py yamlgraph SUBCOMMAND --help` for details."
    )
    # `stdin` lets tests (and callers of call_command) feed `run` its answers.
    stealth_options = ("stdin",)
    # A broken graph file is a system check error (yamlgraph.E001); this command must
    # still start, so that `validate` can report it and the other graphs stay usable.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

        sub.add_parser("graphs", help="List registered graphs (latest versions).")

        validate = sub.add_parser(
            "validate", help="Validate graph files; exits 1 if any has a problem."
        )
        validate.add_argument(
            "paths", nargs="*", metavar="PATH", help="Files or directories (default: GRAPH_DIRS)."
        )

        sub.add_parser("sync", help="Register new and changed graph files from GRAPH_DIRS.")

        run = sub.add_parser(
            "run",
            help="Start a session and answer its questions from stdin.",
            description=(
                "Starts GRAPH and asks each question: prompts when stdin is a terminal, "
                "otherwise reads one answer per line. An answer that parses as JSON is "
                "given as that JSON value, else as text. At the end of the input the "
                "session stays interrupted; continue it with `resume`."
            ),
        )
        run.add_argument("graph", metavar="GRAPH")
        run.add_argument("--input", metavar="JSON", help="Input values as a JSON object.")
        run.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="One input value (repeatable); JSON unless the field is a str.",
        )
        run.add_argument("--thread", metavar="ID", help="Thread id (default: the session id).")

        resume = sub.add_parser(
            "resume", help="Answer a session's pending question, or retry a failed one."
        )
        resume.add_argument("session", metavar="SESSION")
        resume.add_argument("--value", metavar="V", help="The answer (JSON, else text).")
        resume.add_argument(
            "--values", metavar="JSON", help="Answers to several questions: {interrupt_id: value}."
        )
        resume.add_argument(
            "--user",
            metavar="USERNAME",
            help="Answer as this user (required for a question assigned to someone).",
        )

        sessions = sub.add_parser("sessions", help="List sessions, newest first.")
        sessions.add_argument("--status", choices=SessionStatus.values)
        sessions.add_argument("--graph", metavar="NAME")
        sessions.add_argument("--limit", type=int, default=50)

        prune = sub.add_parser(
            "prune", help="Delete expired sessions (or old ones) with their checkpoints."
        )
        prune.add_argument(
            "--older-than",
            metavar="AGE",
            help="Delete sessions idle longer than AGE (30d, 12h, 90m) instead of expired ones.",
        )
        prune.add_argument("--status", choices=SessionStatus.values)
        prune.add_argument(
            "--dry-run", action="store_true", help="List the sessions it would delete; delete none."
        )

        sub.add_parser("recover", help="Settle running sessions whose process died.")

        worker = sub.add_parser(
            "worker",
            help="Run background runs: the TASKS backend's worker (db_worker or rqworker) "
            "plus a sweeper that re-runs sessions whose process died.",
        )
        worker.add_argument(
            "--sweep-seconds",
            type=float,
            default=None,
            help="How often to look for crashed runs (default: a third of LEASE_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["subcommand"]
        self.stdin: TextIO = options.get("stdin") or sys.stdin
        handler = getattr(self, f"do_{name}")
        try:
            handler(options)
            self.stdout.flush()
        except BrokenPipeError:
            _silence_closed_stdout()  # `yamlgraph sessions | head -3`: the reader has enough
        except KeyboardInterrupt:
            self.stdout.write("")
            raise CommandError(
                "interrupted (Ctrl-C); a session that was running is settled by "
                "`manage.py yamlgraph recover` once its lease expires",
                returncode=130,
            ) from None
        except CommandError:
            raise
        except YamlgraphError as exc:
            raise CommandError(_one_line(exc.detail)) from exc
        except Exception as exc:  # never a traceback: one line saying what went wrong
            raise CommandError(_one_line(f"{type(exc).__name__}: {exc}")) from exc

    # ----------------------------------------------------------------------- graphs

    def do_graphs(self, options: dict[str, Any]) -> None:
        latest = list(registry.latest_definitions())
        if not latest:
            self.stdout.write("No graphs registered (run `manage.py yamlgraph sync`).")
            return
        counts = dict(
            GraphDefinition.objects.order_by()
            .values("name")
            .annotate(n=Count("sessions"))
            .values_list("name", "n")
        )
        rows = [
            [d.name, f"v{d.version}", _node_count(d), str(counts.get(d.name, 0))] for d in latest
        ]
        self._table(["NAME", "VERSION", "NODES", "SESSIONS"], rows)

    # ----------------------------------------------------------------------- validate

    def do_validate(self, options: dict[str, Any]) -> None:
        problems: list[str] = []
        if options["paths"]:
            existing = []
            for path in map(Path, options["paths"]):
                if path.exists():
                    existing.append(path)
                else:
                    problems.append(f"{path}: no such file or directory")
            files = registry.find_graph_files(existing) if existing else []
            explicit_files = {p.resolve() for p in existing if p.is_file()}
        else:
            problems += [f"graph directory does not exist: {d}" for d in registry.missing_dirs()]
            files = registry.find_graph_files()
            explicit_files = set()
        valid = 0
        for file in files:
            graph = registry.read_graph_file(file)
            if graph is None:
                if file in explicit_files:
                    problems.append(f"{file}: not a graph file (no top-level 'nodes:')")
                continue
            if graph.valid:
                valid += 1
                self.stdout.write(f"ok {file}")
            else:
                problems.extend(str(issue) for issue in graph.issues)
        for line in problems:
            self.stdout.write(line)
        if problems:
            raise CommandError(
                f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found "
                f"({valid} valid graph file{'s' if valid != 1 else ''})"
            )
        if not valid:
            raise CommandError("no graph files found")
        self.stdout.write(f"{valid} graph file{'s' if valid != 1 else ''} valid")

    # ----------------------------------------------------------------------- sync

    def do_sync(self, options: dict[str, Any]) -> None:
        verbose = options["verbosity"] >= 1
        bar = _progress_bar(self.stderr, len(registry.find_graph_files()), enabled=verbose)

        def progress(path: Path) -> None:
            if bar is not None:
                bar.set_postfix_str(path.name, refresh=False)
                bar.update()
            elif verbose:
                self.stderr.write(f"reading {path}")

        try:
            report = registry.sync_graphs(progress=progress)
        finally:
            if bar is not None:
                bar.close()
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            raise CommandError(f"sync finished with problems: {report.summary()}")

    # ----------------------------------------------------------------------- run

    def do_run(self, options: dict[str, Any]) -> None:
        data = _parse_input(options["graph"], options["input"], options["var"])
        session = services.start_session(
            options["graph"], data, thread_id=options["thread"], channel=CHANNEL
        )
        self.stdout.write(f"Session {session.pk} ({session.graph}) started.")
        self._drive(session)

    def _drive(self, session: Session) -> None:
        """Ask the pending questions until the session ends or the input runs out.

        Ctrl-C while a question waits leaves the session waiting and says how to go on.
        """
        try:
            self._ask_until_done(session)
        except KeyboardInterrupt:
            self.stdout.write("")
            session.refresh_from_db()
            if session.status != SessionStatus.INTERRUPTED:
                raise  # stopped mid-run: the handler's message says what to do
            self._report_waiting(session)
            raise CommandError("interrupted (Ctrl-C)", returncode=130) from None

    def _ask_until_done(self, session: Session) -> None:
        interactive = _isatty(self.stdin)
        while session.status == SessionStatus.INTERRUPTED:
            pending = list(session.interrupts)
            answers: dict[str, Any] = {}
            for interrupt in pending:
                self.stdout.write(_question(interrupt))
                line = self._read_answer(interactive)
                if line is None:
                    self._report_waiting(session)
                    return
                answers[interrupt["id"]] = _answer_value(line, interrupt)
            try:
                if len(answers) == 1:
                    session = services.resume_session(
                        session, next(iter(answers.values())), channel=CHANNEL
                    )
                else:
                    session = services.resume_session(session, values=answers, channel=CHANNEL)
            except InvalidInput as exc:
                if not interactive:
                    raise
                self.stderr.write(f"Not accepted: {_one_line(exc.detail)}")
                session.refresh_from_db()
        self._report_end(session)

    def _read_answer(self, interactive: bool) -> str | None:
        if interactive:
            self.stdout.write("> ", ending="")
            self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            return None
        answer = line.rstrip("\r\n")
        if not interactive:
            self.stdout.write(f"> {answer}")
        return answer

    def _report_waiting(self, session: Session) -> None:
        session.refresh_from_db()
        self.stdout.write(f"Session {session.pk} is waiting for an answer:")
        for interrupt in session.interrupts:
            self.stdout.write("  " + _question(interrupt).replace("\n", "\n  "))
        self.stdout.write(f"Continue with: manage.py yamlgraph resume {session.pk} --value ANSWER")

    def _report_end(self, session: Session) -> None:
        if session.status == SessionStatus.COMPLETED:
            self.stdout.write(f"Session {session.pk} completed.")
            self.stdout.write(json.dumps(session.output, indent=2, ensure_ascii=False))
        elif session.status == SessionStatus.PENDING:
            self.stdout.write(f"Session {session.pk} is queued to run in the background.")
        elif session.status == SessionStatus.FAILED:
            raise CommandError(
                _one_line(
                    f"session {session.pk} failed: {session.error} "
                    f"(retry: manage.py yamlgraph resume {session.pk})"
                )
            )
        else:
            self.stdout.write(f"Session {session.pk} is {session.status}.")

    # ----------------------------------------------------------------------- resume

    def do_resume(self, options: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = {"channel": CHANNEL}
        if options.get("user"):
            user_model = get_user_model()
            try:
                kwargs["actor"] = user_model._default_manager.get_by_natural_key(options["user"])
            except user_model.DoesNotExist:
                raise CommandError(f"--user: no user named '{options['user']}'") from None
        if options["values"] is not None:
            try:
                values = json.loads(options["values"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--values is not JSON: {exc}") from None
            if not isinstance(values, dict):
                raise CommandError("--values must be a JSON object {interrupt_id: value}")
            kwargs["values"] = values
        session = services.resume_session(
            options["session"],
            services.MISSING if options["value"] is None else _parse_value(options["value"]),
            **kwargs,
        )
        if session.status == SessionStatus.INTERRUPTED:
            self._report_waiting(session)
        else:
            self._report_end(session)

    # ----------------------------------------------------------------------- sessions

    def do_sessions(self, options: dict[str, Any]) -> None:
        queryset = Session.objects.select_related("graph", "owner").order_by("-created_at")
        if options["status"]:
            queryset = queryset.filter(status=options["status"])
        if options["graph"]:
            queryset = queryset.filter(graph__name=options["graph"])
        limit = options["limit"]
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        rows = [
            [
                str(s.pk),
                str(s.graph),
                s.status,
                str(s.owner or "-"),
                s.updated_at.strftime("%Y-%m-%d %H:%M"),
                _short(_question(s.interrupts[0])) if s.interrupts else "",
            ]
            for s in queryset[:limit]
        ]
        if not rows:
            self.stdout.write("No sessions.")
            return
        self._table(["ID", "GRAPH", "STATUS", "OWNER", "UPDATED", "QUESTION"], rows)

    # ----------------------------------------------------------------------- prune

    def do_prune(self, options: dict[str, Any]) -> None:
        older_than = _parse_duration(options["older_than"]) if options["older_than"] else None
        dry_run = options["dry_run"]

        def listed(session: Session) -> None:
            if dry_run or options["verbosity"] >= 2:
                updated = session.updated_at.strftime("%Y-%m-%d %H:%M:%S")
                self.stdout.write(
                    f"{'would delete' if dry_run else 'deleting'} {session.pk}  {session.graph}"
                    f"  {session.status}  updated {updated}"
                )

        count = services.prune_expired(
            older_than=older_than,
            status=options["status"],
            dry_run=dry_run,
            progress=self._progress_bar("deleting", options),
            listed=listed,
        )
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {count} session{'s' if count != 1 else ''}.")

    # ----------------------------------------------------------------------- worker

    def do_worker(self, options: dict[str, Any]) -> None:
        from django.core.management import call_command

        command, args = services.worker_command()
        sweeper = services.Sweeper(options["sweep_seconds"])
        sweeper.start()
        self.stdout.write(f"yamlgraph worker: {command} {' '.join(args)} + crash sweeper")
        self.stdout.flush()
        try:
            call_command(command, *args)
        finally:
            sweeper.stop()

    # ----------------------------------------------------------------------- recover

    def do_recover(self, options: dict[str, Any]) -> None:
        recovered = services.recover_stale_sessions(
            channel=CHANNEL, progress=self._progress_bar("recovering", options)
        )
        for session in recovered:
            detail = f": {session.error}" if session.error else ""
            self.stdout.write(f"session {session.pk} -> {session.status}{detail}")
        count = len(recovered)
        self.stdout.write(f"Recovered {count} session{'s' if count != 1 else ''}.")

    # ----------------------------------------------------------------------- output

    def _progress_bar(self, what: str, options: dict[str, Any]) -> ProgressBar | None:
        return ProgressBar(self.stderr, what) if options["verbosity"] >= 1 else None

    def _table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            line = "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            )
            self.stdout.write(line.rstrip())


# --------------------------------------------------------------------------- parsing


def _one_line(text: str) -> str:
    """CommandError output is one line: join a multi-line message with '; '."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _parse_value(text: str) -> Any:
    """An answer: the JSON value it spells (42, true, {"a": 1}), else the text itself."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text


def _parse_input(graph: str, raw: str | None, variables: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if raw:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CommandError("--input must be a JSON object")
    if variables:
        fields = registry.config_for(registry.get_latest(graph)).public_state_fields
        for item in variables:
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--var {item!r} is not KEY=VALUE")
            field = fields.get(key)
            # A str field takes the text as is (`--var name=007`); others take JSON.
            data[key] = text if field is not None and field.type == "str" else _parse_value(text)
    return data


def _parse_duration(text: str) -> dt.timedelta:
    match = _DURATION.match(text)
    if not match:
        raise CommandError(
            f"--older-than {text!r} is not a duration like 30d, 12h, 90m (units: w d h m s)"
        )
    return dt.timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def _question(interrupt: dict[str, Any]) -> str:
    """A pending question as text: its sentence, its facts, its choices numbered."""
    return question_as_text(interrupt.get("value"), interrupt.get("response_schema"))


def _answer_value(text: str, interrupt: dict[str, Any]) -> Any:
    """A typed answer: a choice's number names that choice; a text answer stays text;
    otherwise the JSON value it spells, else the text."""
    schema = interrupt.get("response_schema") or {}
    choice = pick_choice(text, schema)
    if choice is not None:
        return choice
    if schema.get("type") == "string":
        return text
    return _parse_value(text)


class ProgressBar:
    """`progress(done, total)` for the services, drawn on stderr: a bar redrawn in place
    at a terminal, else a line at each tenth (logs stay short)."""

    WIDTH = 30

    def __init__(self, stream: Any, what: str) -> None:
        self.stream = stream
        self.what = what
        self.live = _isatty(stream)

    def __call__(self, done: int, total: int) -> None:
        if self.live:
            filled = self.WIDTH * done // max(total, 1)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            end = "\n" if done >= total else ""
            # style_func=str: not in the error colour Django gives stderr at a terminal
            self.stream.write(f"\r{self.what} [{bar}] {done}/{total}", str, ending=end)
            self.stream.flush()
        elif done == total or done % max(1, total // 10) == 0:
            self.stream.write(f"{self.what} {done}/{total}")


def _silence_closed_stdout() -> None:
    """After the reader of stdout went away, point stdout at /dev/null so the final
    flush at exit does not fail too (Python's advice for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's StringIO)
        pass


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _node_count(definition: GraphDefinition) -> str:
    try:
        return str(len(registry.config_for(definition).nodes))
    except Exception:  # a stored source that no longer validates (its tool file is gone)
        return "?"


class _BarStream:
    """What tqdm writes to: a command's OutputWrapper, without its added line endings."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, ending="")

    def flush(self) -> None:
        self.out.flush()


def _progress_bar(out: Any, total: int, *, enabled: bool) -> Any:
    """A tqdm bar on `out` when it is a terminal; None otherwise (logs and pipes get lines)."""
    if not (enabled and _isatty(out)):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="sync", file=_BarStream(out), leave=False)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
