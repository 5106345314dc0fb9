"""Errors of the engine, each able to say where in which file the problem is."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class ValidationIssue:
    """One problem in a graph file: the file, the YAML path, the line and what is wrong."""

    file: str
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.path:
            where += f": {self.path}"
        return f"{where}: {self.message}"


class GraphValidationError(ValueError):
    """A graph file that cannot run; carries every issue found, not just the first."""

    def __init__(self, issues: list[ValidationIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class GraphRuntimeError(RuntimeError):
    """A node failed in a way the graph's author must fix (bad return value, no matching edge)."""

    def __init__(self, node: str, message: str):
        self.node = node
        super().__init__(f"node '{node}': {message}")


def did_you_mean(word: str, choices: set[str] | list[str]) -> str:
    """A " (did you mean 'x'?)" hint for a misspelt name, or "" when nothing is close."""
    match = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
