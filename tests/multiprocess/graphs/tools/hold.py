"""Python nodes of the multi-process test graphs: steps a test can hold, watch and count.

Each step, for the session's `tag`, leaves files in `signals/` next to this module (the
test reads them; the test's deployment has its own copy of this directory):

- `<tag>.<step>.started`: the pid of the process running the step, written when it begins;
- `<tag>.<step>.count`: one line per execution, so a test sees a step that ran twice;
- `<tag>.overlaps`: a line whenever a step starts while another process runs it (an
  flock the kernel releases when a killed process dies), i.e. a session run twice at once.

A step then works until `<tag>.<step>.go` (or `<tag>.all.go`, which a test's teardown
leaves) exists or `<step>_seconds` (state) passed.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

SIGNALS = Path(__file__).resolve().parent.parent / "signals"


def _emit(payload: dict) -> None:
    """Progress for LangGraph's `custom` stream mode, when the node runs inside a graph."""
    try:
        from langgraph.config import get_stream_writer

        get_stream_writer()(payload)
    except Exception:  # outside a stream: nothing listens
        pass


def hold(step: str, state: dict) -> dict:
    """Run `step` for the session tagged `state["tag"]`; see the module docstring."""
    tag = str(state.get("tag") or "untagged")
    seconds = float(state.get(f"{step}_seconds") or 0)
    SIGNALS.mkdir(exist_ok=True)
    base = SIGNALS / f"{tag}.{step}"
    with open(f"{base}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with open(SIGNALS / f"{tag}.overlaps", "a") as overlaps:
                overlaps.write(f"{step} {os.getpid()}\n")
        with open(f"{base}.count", "a") as count:
            count.write(f"{os.getpid()}\n")
        Path(f"{base}.started").write_text(str(os.getpid()))
        _emit({"step": step, "tag": tag, "event": "started"})
        go, all_go = Path(f"{base}.go"), SIGNALS / f"{tag}.all.go"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (go.exists() or all_go.exists()):
            time.sleep(0.05)
    _emit({"step": step, "tag": tag, "event": "finished"})
    return {step: f"{step} done by {os.getpid()}"}


def first(state: dict) -> dict:
    """The first held step."""
    return hold("first", state)


def second(state: dict) -> dict:
    """The second held step."""
    return hold("second", state)


def boom(state: dict) -> dict:
    """A step that always fails, for runs that end in `failed`."""
    raise RuntimeError(f"boom on purpose ({state.get('tag')})")
