"""`make bench`: every benchmark of bench/, one after the other, each part timed.

QUICK=1 runs each part short (a check that everything runs, not figures to quote);
BENCH_SAVERS=sqlite,redis,postgres chooses the checkpoint savers of `bench.http` (and
the first one for `bench.memory`; the SQL databases among them for `bench.scale`).

    .venv/bin/python -m bench
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def parts(quick: bool, savers: list[str]) -> list[list[str]]:
    """The command line of each part, short with `quick`."""
    databases = ",".join(s for s in savers if s in ("sqlite", "postgres")) or "sqlite"
    if quick:
        return [
            ["bench.engine", "--sessions", "30", "--rounds", "1"],
            ["bench.engine", "--saver", "sqlite", "--sessions", "30", "--rounds", "1"],
            ["bench.service", "--sessions", "20", "--rounds", "1", "--profiled", "10"],
            ["bench.http", "--seconds", "1", "--rounds", "1"],
            ["bench.memory", "--checkpoints", "100,500"],
            ["bench.scale", "--sessions", "2000", "--databases", databases],
        ]
    return [
        ["bench.engine"],
        ["bench.engine", "--saver", "sqlite"],
        ["bench.service"],
        ["bench.http"],
        ["bench.memory"],
        ["bench.scale", "--databases", databases],
    ]


def main() -> int:
    quick = os.environ.get("QUICK", "") not in ("", "0")
    savers = [
        s.strip() for s in (os.environ.get("BENCH_SAVERS") or "sqlite,redis,postgres").split(",")
    ]
    env = {**os.environ, "BENCH_SAVERS": ",".join(s for s in savers if s)}
    timings: list[tuple[str, float, int]] = []
    for part in parts(quick, [s for s in savers if s]):
        label = " ".join(part)
        print(f"\n=== python -m {label}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", *part], env=env)
        timings.append((label, time.monotonic() - started, code))
        print(f"=== {label}: {time.monotonic() - started:.0f} s", flush=True)
    print(f"\nmake bench{' (QUICK=1)' if quick else ''}, savers {env['BENCH_SAVERS']}:")
    for label, seconds, code in timings:
        print(f"  {seconds:6.0f} s  {label}{'' if code == 0 else f'  (failed: exit {code})'}")
    print(f"  {sum(t for _l, t, _c in timings):6.0f} s  in all")
    return max(code for _l, _t, code in timings)


if __name__ == "__main__":
    sys.exit(main())
