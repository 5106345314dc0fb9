"""`exports:`: write chosen state keys to files when a run ends (yamlgraph's `run --export`).

`exports: {state_key: {format: markdown|json|text, filename: name}}`; files go to
`{base}/{thread_id}/{filename}` (base `outputs`, as in yamlgraph), keys that are unset or
None are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXPORT_FORMATS = ("markdown", "json", "text")
EXPORT_KEYS = {"format", "filename"}


def export_problems(exports: Any) -> list[tuple[tuple, str]]:
    """(YAML path, message) for every problem in an `exports:` block."""
    if not isinstance(exports, dict):
        return [(("exports",), "must be a mapping of state_key: {format, filename}")]
    problems: list[tuple[tuple, str]] = []
    for key, spec in exports.items():
        path = ("exports", key)
        if not isinstance(spec, dict):
            problems.append((path, "must be a mapping with 'format' and 'filename'"))
            continue
        for unknown in set(spec) - EXPORT_KEYS:
            problems.append(((*path, unknown), f"unknown export key '{unknown}'"))
        fmt = spec.get("format", "text")
        if fmt not in EXPORT_FORMATS:
            problems.append(((*path, "format"), f"must be one of {', '.join(EXPORT_FORMATS)}"))
        filename = spec.get("filename", f"{key}.txt")
        if not isinstance(filename, str) or Path(filename).name != filename or not filename:
            problems.append(((*path, "filename"), "must be a plain file name (no folders)"))
    return problems


def write_exports(
    exports: dict[str, dict], state: dict[str, Any], thread_id: str, base: Path
) -> list[Path]:
    """Write the exported keys of a finished run's state; the files written."""
    folder = base / thread_id
    written = []
    for key, spec in exports.items():
        value = state.get(key)
        if value is None:
            continue
        fmt = spec.get("format", "text")
        if fmt == "json":
            text = json.dumps(value, indent=2, default=str)
        else:
            text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / spec.get("filename", f"{key}.txt")
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
