"""Backend configs for the storage tests; servers start only for the types a test uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ALL_TYPES = [
    "memory",
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis-simple", marks=pytest.mark.redis),
]
PERSISTENT_TYPES = ALL_TYPES[1:]
MODES = ["sync", "async"]


def config_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The checkpointer block for `kind`, starting/skipping its server as needed."""
    if kind == "memory":
        return {"type": "memory"}
    if kind == "sqlite":
        return {"type": "sqlite", "path": str(tmp_path / "checkpoints.db")}
    if kind == "redis":
        return {"type": "redis", "url": request.getfixturevalue("redis_url")}
    if kind == "postgres":
        return {"type": "postgres", "url": request.getfixturevalue("postgres_url")}
    if kind == "redis-simple":  # on the Valkey without modules
        return {"type": "redis-simple", "url": request.getfixturevalue("plain_redis_url")}
    raise AssertionError(kind)


@pytest.fixture(params=ALL_TYPES)
def any_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return config_for(request.param, request, tmp_path)


@pytest.fixture(params=PERSISTENT_TYPES)
def persistent_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return config_for(request.param, request, tmp_path)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param
