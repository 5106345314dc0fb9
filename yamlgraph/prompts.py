"""Where a named prompt file lives: yamlgraph's search order, then the engine's own step.

yamlgraph 0.6.5 tries, and the first existing file wins:
1. `prompts_relative` and `prompts_dir`: {graph dir}/{prompts_dir}/{name}.yaml
2. `prompts_dir`: {prompts_dir}/{name}.yaml (relative to the working directory)
3. `prompts_relative`: {graph dir}/{name}.yaml
4. default: prompts/{name}.yaml in the working directory
5. fallback, for names with a folder: {parent}/prompts/{basename}.yaml

The engine adds one last step unless `prompts_relative: false` is set, so a graph
directory served by the Django app (whose working directory is the project root) finds
its colocated prompts: {graph dir}/{prompts_dir or "prompts"}/{name}.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class PromptLocation(Protocol):
    """Where a graph looks for its prompts (`config.GraphConfig` is one): a Protocol, so
    this module needs no import of the config module, which imports it."""

    @property
    def prompts_dir(self) -> str | None: ...
    @property
    def prompts_relative(self) -> bool | None: ...
    @property
    def base_dir(self) -> Path: ...


def prompt_candidates(config: PromptLocation, name: str) -> list[Path]:
    """Every file a prompt name may resolve to, in search order (duplicates removed)."""
    file_name = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    prompts_dir = Path(config.prompts_dir) if config.prompts_dir else None
    relative = bool(config.prompts_relative)
    graph_dir = config.base_dir
    candidates: list[Path] = []
    if relative and prompts_dir is not None:
        candidates.append(graph_dir / prompts_dir / file_name)
    if prompts_dir is not None:
        candidates.append(prompts_dir / file_name)
    if relative:
        candidates.append(graph_dir / file_name)
    candidates.append(Path("prompts") / file_name)
    parent, slash, basename = name.rpartition("/")
    if slash and parent:
        candidates.append(Path(parent) / "prompts" / Path(file_name).name)
    if config.prompts_relative is not False:
        candidates.append(graph_dir / (prompts_dir or Path("prompts")) / file_name)
    unique: dict[str, Path] = {}
    for candidate in candidates:
        unique.setdefault(str(candidate.absolute()), candidate)
    return list(unique.values())


def find_prompt(config: PromptLocation, name: str) -> Path | None:
    """The first existing prompt file for `name`, or None."""
    return next((c for c in prompt_candidates(config, name) if c.is_file()), None)
