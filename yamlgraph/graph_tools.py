"""The graph's `tools:` section: python functions and shell commands, callable by name.

Python nodes call a python tool with the state; `agent` and `tool_call` nodes call any
tool with keyword arguments chosen at run time (by the model, or from the state).

Shell tools follow yamlgraph's security rules: the command template comes from the
trusted graph file, and every argument value is quoted with `shlex.quote()` before it is
substituted into a `{placeholder}` (lists and dicts as quoted JSON, None as empty), so
an argument can never add a command. Commands run with a timeout (default 30 s) in
`working_dir`, with `env` added to the environment; an exit code outside
`success_codes` (default [0]) is a failure.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import Field, create_model

SHELL_PARSE_MODES = {"text", "json", "none"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass
class ToolConfig:
    """One entry of `tools:`: `kind` is 'python' (module|path + function), 'shell', or
    'websearch' (`provider`, `max_results`; yamlgraph.websearch)."""

    name: str
    function: str = ""
    module: str | None = None
    path: Path | None = None
    kind: str = "python"
    description: str = ""
    command: str = ""
    parse: str = "text"
    timeout: float = 30
    working_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    success_codes: list[int] = field(default_factory=lambda: [0])
    provider: str = "duckduckgo"
    max_results: int = 5

    @property
    def parameters(self) -> list[str]:
        """A shell command's placeholders, in order of first use."""
        return list(dict.fromkeys(_PLACEHOLDER.findall(self.command)))


class ToolFailed(RuntimeError):
    """A tool ran and failed (exit code, timeout, unparsable output, missing argument)."""


def load_tool_function(tool: ToolConfig) -> Any:
    """Import a python tool's function from a module name or a file path."""
    if tool.module:
        module = importlib.import_module(tool.module)
    else:
        assert tool.path is not None
        module_name = f"yamlgraph_tools_{abs(hash(str(tool.path)))}"
        spec = importlib.util.spec_from_file_location(module_name, tool.path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {tool.path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return getattr(module, tool.function)


def quote_arguments(arguments: dict[str, Any]) -> dict[str, str]:
    """Every value shell-quoted: the only way values enter a shell command."""
    quoted = {}
    for key, value in arguments.items():
        if value is None:
            quoted[key] = ""
        elif isinstance(value, list | dict):
            quoted[key] = shlex.quote(json.dumps(value))
        else:
            quoted[key] = shlex.quote(str(value))
    return quoted


def run_shell_tool(tool: ToolConfig, arguments: dict[str, Any]) -> Any:
    """Run a shell tool's command with quoted arguments; its parsed output, or ToolFailed."""
    missing = [name for name in tool.parameters if name not in arguments]
    if missing:
        raise ToolFailed(f"tool '{tool.name}' needs argument(s) {', '.join(missing)}")
    command = _PLACEHOLDER.sub(
        lambda match: quote_arguments(arguments)[match.group(1)], tool.command
    )
    try:
        done = subprocess.run(  # noqa: S602 - template trusted, every value quoted
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=tool.timeout,
            cwd=tool.working_dir,
            env={**os.environ, **tool.env},
        )
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"tool '{tool.name}' timed out after {tool.timeout} s") from None
    if done.returncode not in tool.success_codes:
        detail = done.stderr.strip() or f"exit code {done.returncode}"
        raise ToolFailed(f"tool '{tool.name}' failed: {detail}")
    if tool.parse == "json":
        try:
            return json.loads(done.stdout)
        except ValueError as exc:
            raise ToolFailed(f"tool '{tool.name}' did not print JSON: {exc}") from None
    if tool.parse == "none":
        return None
    return done.stdout.strip()


def call_tool(tool: ToolConfig, arguments: dict[str, Any]) -> Any:
    """Call any tool with keyword arguments (python: `function(**arguments)`)."""
    if tool.kind == "shell":
        return run_shell_tool(tool, arguments)
    if tool.kind == "websearch":
        from yamlgraph.websearch import run_search

        return run_search(tool.name, tool.provider, tool.max_results, arguments)
    return load_tool_function(tool)(**arguments)


def langchain_tool(tool: ToolConfig) -> StructuredTool:
    """The tool as the model sees it: name, description and an argument schema."""
    if tool.kind == "shell":
        fields: dict[str, Any] = {
            name: (str, Field(description=f"value for {{{name}}}")) for name in tool.parameters
        }
    elif tool.kind == "websearch":
        fields = {"query": (str, Field(description="what to search the web for"))}
    else:
        fields = {}
        for name, parameter in inspect.signature(load_tool_function(tool)).parameters.items():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            annotation = Any if parameter.annotation is parameter.empty else parameter.annotation
            default = ... if parameter.default is parameter.empty else parameter.default
            fields[name] = (annotation, default)
    schema = create_model(f"{tool.name}_arguments", **fields)

    def run(**arguments: Any) -> Any:
        return call_tool(tool, arguments)

    return StructuredTool.from_function(
        func=run,
        name=tool.name,
        description=tool.description or tool.name,
        args_schema=schema,
    )
