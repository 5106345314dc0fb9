"""The LangGraph JS SDK (`@langchain/langgraph-sdk`, installed into tests/js by
`make test`) runs tests/js/protocol.test.mjs with node's test runner against the live app."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.clients

JS_DIR = Path(__file__).resolve().parents[2] / "js"


def test_js_sdk_happy_path(alice: Any, lg_url: str, token_of: Any) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JS SDK test needs Node.js 20+")
    if not (JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk").is_dir():
        pytest.skip("tests/js/node_modules is missing: run `make test` (or npm ci in tests/js)")
    env = {**os.environ, "LG_URL": lg_url, "LG_TOKEN": token_of(alice)}
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        env.pop(name, None)
    result = subprocess.run(
        [node, "--test", "protocol.test.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 2" in result.stdout, result.stdout
