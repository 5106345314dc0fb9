"""The peers of `bench.http`, installed into scratch environments under bench/.scratch/.

The LangGraph dev server (`langgraph-cli[inmem]`) and Aegra (`aegra-api`, Python 3.12,
on the local Postgres) are never dependencies of this project: each gets its own venv
here (gitignored), installed on the first `make bench` and reused after. A peer that
cannot be installed or started is a row that says why, not a failed benchmark.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "bench" / ".scratch"


class PeerUnavailable(RuntimeError):
    """A peer could not be installed or started; the message is the row's reason."""


@dataclass(frozen=True)
class Peer:
    """One peer server: what to install, with which Python, and its distribution name."""

    name: str
    requirement: str
    distribution: str
    python_glob: str

    @property
    def venv(self) -> Path:
        return SCRATCH / self.name

    def python(self) -> str:
        """The interpreter the peer's venv is made from (the newest match of python_glob)."""
        pattern = self.python_glob.replace("$(pyenv root)", pyenv_root())
        found = sorted(glob.glob(pattern))
        if not found:
            raise PeerUnavailable(f"not installable: no interpreter matches {pattern}")
        return found[-1]

    def install(self) -> str:
        """Install once into bench/.scratch/NAME; return the installed version."""
        marker = self.venv / ".installed"
        if not (marker.exists() and marker.read_text() == self.requirement):
            SCRATCH.mkdir(parents=True, exist_ok=True)
            steps = [
                [self.python(), "-m", "venv", "--clear", str(self.venv)],
                [str(self.venv / "bin" / "python"), "-m", "pip", "install", "-q", self.requirement],
            ]
            for step in steps:
                try:
                    done = subprocess.run(step, capture_output=True, text=True, timeout=900)
                except subprocess.TimeoutExpired:
                    raise PeerUnavailable("not installable: pip took over 15 minutes") from None
                if done.returncode != 0:
                    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")]
                    reason = (lines or done.stderr.strip().splitlines() or ["?"])[-1]
                    raise PeerUnavailable(f"not installable: {reason[:160]}")
            marker.write_text(self.requirement)
        return self.version()

    def version(self) -> str:
        done = subprocess.run(
            [
                str(self.venv / "bin" / "python"),
                "-c",
                f"import importlib.metadata as m; print(m.version({self.distribution!r}))",
            ],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() or "?"

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


DEV_SERVER = Peer(
    "devserver",
    "langgraph-cli[inmem]",
    "langgraph-api",
    str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"),
)
AEGRA = Peer("aegra", "aegra-api", "aegra-api", "$(pyenv root)/versions/3.12*/bin/python3.12")


def pyenv_root() -> str:
    try:
        return subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.path.expanduser("~/.pyenv")


def graph_config(directory: Path) -> Path:
    """A langgraph.json / aegra.json that serves bench/interview.py as `interview`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "langgraph.json"
    config = {
        "dependencies": ["."],
        "graphs": {"interview": str(ROOT / "bench" / "interview.py") + ":graph"},
    }
    path.write_text(json.dumps(config))
    return path
