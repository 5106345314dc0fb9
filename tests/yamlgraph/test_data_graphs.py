"""Every graph under tests/yamlgraph/data/ validates (see its README.md).

They use what yamlgraph's own example graphs needed before issue 23: websearch tools,
underscore state keys, and `redis-simple` checkpointers as yamlgraph writes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from yamlgraph.graph_loader import load_graph_config

DATA = Path(__file__).parent / "data"
GRAPHS = sorted(
    path for path in DATA.rglob("*.yaml") if "prompts" not in path.relative_to(DATA).parts
)


def test_the_data_folder_has_its_graphs() -> None:
    names = {path.name for path in GRAPHS}
    assert {
        "web-search-agent.yaml",
        "repo-and-web-agent.yaml",
        "plain-redis-questions.yaml",
    } <= names


@pytest.mark.parametrize("path", GRAPHS, ids=[str(p.relative_to(DATA)) for p in GRAPHS])
def test_every_graph_validates(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    config = load_graph_config(path)
    assert config.nodes
