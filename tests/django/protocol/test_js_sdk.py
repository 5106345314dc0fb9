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


def run_js(test_file: str, lg_url: str, token: str, sdk: str) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JS SDK test needs Node.js 20+")
    if not (JS_DIR / "node_modules" / sdk).is_dir():
        pytest.skip(
            f"tests/js/node_modules/{sdk} is missing: run `make test` (or npm ci in tests/js)"
        )
    env = {**os.environ, "LG_URL": lg_url, "LG_TOKEN": token, "LG_SDK": sdk}
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        env.pop(name, None)
    return subprocess.run(
        [node, "--test", test_file],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("sdk", ["@langchain/langgraph-sdk", "@langchain/langgraph-sdk-2"])
def test_js_sdk_thread_stream_and_joins(alice: Any, lg_url: str, token_of: Any, sdk: str) -> None:
    """SDK 1.15 and 2.0: `threads.stream` (commands + stream/events), `threads.joinStream`,
    `runs.joinStream` with several modes (2.0 sends them as one JSON array)."""
    result = run_js("thread_stream.test.mjs", lg_url, token_of(alice), sdk)
    assert result.returncode == 0, result.stdout + result.stderr
    # SDK 2.0.0 has no `threads.stream`: its two tests are skipped (saying so), the joins run.
    expected = "# pass 1" if sdk.endswith("-2") else "# pass 3"
    assert "# fail 0" in result.stdout and expected in result.stdout, result.stdout
