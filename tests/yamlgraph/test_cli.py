"""`python -m yamlgraph validate|run|mermaid`: exit codes, messages, stdin-driven runs."""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.yamlgraph.conftest import GRAPHS, run_cli, write
from yamlgraph.cli import main

BROKEN = """
checkpionter: memory
nodes:
  ask:
    type: interupt
    message: "Hi"
edges:
  - {from: START, to: ask}
  - {from: ask, to: nowhere}
"""

INTERVIEW = """
state: {name: str, goal: str}
nodes:
  ask_name:
    type: interrupt
    message: "What is your name?"
    resume_key: name
  ask_goal:
    type: interrupt
    message: {question: "What is your goal, {state.name}?", hint: "one line"}
    resume_key: goal
  wrap:
    type: passthrough
    output: {summary: "{state.name} wants {state.goal}"}
edges:
  - {from: START, to: ask_name}
  - {from: ask_name, to: ask_goal}
  - {from: ask_goal, to: wrap}
  - {from: wrap, to: END}
"""


def _final_json(stdout: str) -> dict:
    """The state the CLI prints at the end (the JSON object after the questions)."""
    return json.loads(stdout[stdout.rindex("\n{") :])


# --- validate ---------------------------------------------------------------------------


def test_validate_ok_exits_0(capsys):
    assert main(["validate", *sorted(str(p) for p in GRAPHS.glob("*.yaml"))]) == 0
    assert capsys.readouterr().out == "ok: 4 file(s) valid\n"


def test_validate_bad_files_prints_one_line_per_error_and_exits_1(tmp_path):
    broken = write(tmp_path, "broken.yaml", BROKEN)
    bad_syntax = write(tmp_path, "syntax.yaml", "nodes:\n  a: [unclosed\n")
    good = GRAPHS / "interview.yaml"
    process = run_cli("validate", str(broken), str(good), str(bad_syntax), cwd=tmp_path)
    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    lines = process.stdout.strip().splitlines()
    assert lines == [
        f"{broken}:1: checkpionter: unknown top-level key 'checkpionter'"
        " (did you mean 'checkpointer'?)",
        f"{broken}:4: nodes.ask.type: unknown node type 'interupt' (did you mean 'interrupt'?);"
        " known: agent, interrupt, llm, map, passthrough, python, router, subgraph, tool_call",
        f"{broken}:8: edges[1].to: unknown node 'nowhere'",
        f"{bad_syntax}:3: invalid YAML: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence on line 2)",
    ]


def test_validate_reports_unset_checkpointer_variables(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("YG_TEST_UNSET_URL", raising=False)
    path = write(
        tmp_path,
        "redis.yaml",
        """
        checkpointer: {type: redis, url: "${YG_TEST_UNSET_URL}"}
        nodes:
          a: {type: passthrough, output: {x: "1"}}
        edges:
          - {from: START, to: a}
        """,
    )
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}")
    assert "checkpointer" in out and "YG_TEST_UNSET_URL" in out and "not set" in out
    assert len(out.strip().splitlines()) == 1

    monkeypatch.setenv("YG_TEST_UNSET_URL", "redis://localhost:6379")
    assert main(["validate", str(path)]) == 0


def test_validate_missing_file(capsys):
    assert main(["validate", "/no/such/graph.yaml"]) == 1
    assert "/no/such/graph.yaml: cannot read graph file" in capsys.readouterr().out


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """`run` writes its default checkpoint file in the working directory."""
    monkeypatch.chdir(tmp_path)


# --- run --------------------------------------------------------------------------------


def test_run_answers_interrupts_from_stdin_to_the_end(tmp_path):
    path = write(tmp_path, "interview.yaml", INTERVIEW)
    process = run_cli("run", str(path), stdin="Ada\nto fly\n", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    out = process.stdout
    thread_id = re.match(r"thread: (\S+)\n", out).group(1)
    assert thread_id
    # each question is printed before its answer is read; dict questions as JSON
    assert out.index("? What is your name?") < out.index('"question": "What is your goal, Ada?"')
    final = _final_json(out)
    assert final["summary"] == "Ada wants to fly"
    assert final["goal"] == "to fly"
    assert not any(key.startswith("_") for key in final)


def test_run_with_vars_and_json_answers(capsys):
    stdin = io.StringIO('"yes"\n')
    code = main(
        ["run", str(GRAPHS / "approval.yaml"), "--var", "amount=250", "--var", "requester=Bob"],
        stdin=stdin,
    )
    assert code == 0
    out = capsys.readouterr().out
    assert '"question": "Approve Bob\'s expense of 250?"' in out
    final = _final_json(out)
    assert final["amount"] == 250 and final["requester"] == "Bob"
    assert final["decision"] == "yes" and final["approved"] is True


def test_run_without_interrupts_prints_the_result(capsys):
    assert (
        main(["run", str(GRAPHS / "approval.yaml"), "--var", "amount=20"], stdin=io.StringIO()) == 0
    )
    out = capsys.readouterr().out
    assert "?" not in out.split("\n", 1)[1]  # no question asked
    assert _final_json(out)["decision"] == "auto"


def test_run_rejects_unknown_vars(capsys):
    code = main(["run", str(GRAPHS / "approval.yaml"), "--var", "amout=20"], stdin=io.StringIO())
    assert code == 1
    err = capsys.readouterr().err
    assert "unknown state field(s) amout" in err and "amount" in err


@pytest.mark.parametrize("bad_var", ["amount", "=5"])
def test_run_rejects_malformed_vars(capsys, bad_var):
    assert main(["run", str(GRAPHS / "approval.yaml"), "--var", bad_var], stdin=io.StringIO()) == 1
    assert "--var needs key=value" in capsys.readouterr().err


def test_run_a_broken_graph_prints_the_errors(tmp_path, capsys):
    path = write(tmp_path, "broken.yaml", BROKEN)
    assert main(["run", str(path)], stdin=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:1: checkpionter:")
    assert len(err.strip().splitlines()) == 3


def test_run_reports_runtime_errors_by_node(tmp_path, capsys):
    write(tmp_path, "tools.py", "def f(state):\n    return {'surprise': 1}\n")
    path = write(
        tmp_path,
        "graph.yaml",
        """
        tools: {t: {path: tools.py, function: f}}
        nodes:
          work: {type: python, tool: t}
        edges:
          - {from: START, to: work}
        """,
    )
    assert main(["run", str(path)], stdin=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: node 'work':") and "'surprise'" in err


def test_run_with_a_missing_provider_package_is_an_error_message(tmp_path, capsys):
    path = write(
        tmp_path,
        "graph.yaml",
        """
        nodes:
          think: {provider: yg-no-such-provider, prompt: {user: hi}}
        edges:
          - {from: START, to: think}
        """,
    )
    assert main(["run", str(path)], stdin=io.StringIO()) == 1
    assert "unknown LLM provider 'yg-no-such-provider'" in capsys.readouterr().err


def test_run_resumes_a_thread_in_another_process(tmp_path, monkeypatch, capsys):
    path = write(
        tmp_path,
        "interview.yaml",
        "checkpointer: {type: sqlite, path: sessions.sqlite}\n" + INTERVIEW,
    )
    monkeypatch.chdir(tmp_path)  # the sqlite path is relative to the working directory
    assert main(["run", str(path)], stdin=io.StringIO("Ada\n")) == 0
    first = capsys.readouterr().out
    thread_id = re.match(r"thread: (\S+)\n", first).group(1)
    # stdin ran out at the second question: the CLI says how to resume
    assert "What is your goal, Ada?" in first
    assert f"(no more input; resume with --thread {thread_id})" in first
    assert (tmp_path / "sessions.sqlite").is_file()

    second = run_cli("run", str(path), "--thread", thread_id, stdin="to fly\n", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"thread: {thread_id}\n")
    # the pending question is asked again, the answered one is not
    assert "What is your name?" not in second.stdout
    assert "What is your goal, Ada?" in second.stdout
    assert _final_json(second.stdout)["summary"] == "Ada wants to fly"


# --- mermaid ----------------------------------------------------------------------------


def test_mermaid_prints_a_flowchart(capsys):
    assert main(["mermaid", str(GRAPHS / "approval.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    ask_approver{{"ask_approver<br/><i>interrupt</i>"}}' in lines
    assert "    assess -- \"state.risk == 'low'\" --> auto_approve" in lines
    assert "    record_approved --> __end__" in lines


def test_mermaid_of_a_broken_graph_is_an_error(tmp_path, capsys):
    path = write(tmp_path, "broken.yaml", BROKEN)
    assert main(["mermaid", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "checkpionter" in captured.err


# --- run: resuming, Ctrl-C, typed vars, exports ----------------------------------------


def test_run_without_a_checkpointer_names_its_sqlite_file_and_the_hint_works(tmp_path):
    path = write(tmp_path, "interview.yaml", INTERVIEW)  # no checkpointer: block
    first = run_cli("run", str(path), stdin="Ada\n", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    thread_id = re.match(r"thread: (\S+)\n", first.stdout).group(1)
    assert "checkpoints: .yamlgraph/checkpoints.sqlite3" in first.stdout
    assert f"(no more input; resume with --thread {thread_id})" in first.stdout
    assert (tmp_path / ".yamlgraph" / "checkpoints.sqlite3").is_file()

    second = run_cli("run", str(path), "--thread", thread_id, stdin="to fly\n", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "What is your name?" not in second.stdout
    assert _final_json(second.stdout)["summary"] == "Ada wants to fly"


def test_ctrl_c_at_a_prompt_ends_with_the_hint_not_a_traceback(tmp_path):
    import signal
    import subprocess
    import sys

    from tests.yamlgraph.conftest import REPO

    path = write(tmp_path, "interview.yaml", INTERVIEW)
    process = subprocess.Popen(
        [sys.executable, "-m", "yamlgraph", "run", str(path), "--thread", "t-ctrl-c"],
        cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    while "? What is your name?" not in seen:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        seen += line
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends while it waits for the answer
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "(stopped; resume with --thread t-ctrl-c)" in out
    assert "Traceback" not in err

    resumed = run_cli("run", str(path), "--thread", "t-ctrl-c", stdin="Ada\nto fly\n", cwd=tmp_path)
    assert _final_json(resumed.stdout)["summary"] == "Ada wants to fly"


def test_a_var_that_is_not_the_fields_type_names_the_field(capsys):
    code = main(["run", str(GRAPHS / "approval.yaml"), "--var", "amount=lots"], stdin=io.StringIO())
    assert code == 1
    err = capsys.readouterr().err
    assert "--var amount=lots: state field 'amount' is float, and 'lots' is not a float" in err


def test_a_str_var_keeps_its_text(tmp_path, capsys):
    path = write(tmp_path, "g.yaml", INTERVIEW)
    assert main(["run", str(path), "--var", "name=123"], stdin=io.StringIO("x\ny\n")) == 0
    assert _final_json(capsys.readouterr().out)["name"] == "x"  # the answer, a str


def test_run_export_writes_the_graphs_exports(tmp_path, capsys):
    path = write(
        tmp_path,
        "g.yaml",
        INTERVIEW
        + """
exports:
  summary: {format: markdown, filename: summary.md}
  name: {format: json, filename: name.json}
""",
    )
    code = main(["run", str(path), "--thread", "exp", "--export"], stdin=io.StringIO("Ada\nfly\n"))
    assert code == 0
    assert (tmp_path / "outputs" / "exp" / "summary.md").read_text() == "Ada wants fly"
    assert json.loads((tmp_path / "outputs" / "exp" / "name.json").read_text()) == "Ada"
    assert "exported: outputs/exp/summary.md" in capsys.readouterr().out
