"""How long each local test service takes to become ready and to stop.

Session-scoped fixtures pay these once per test run, and the demo pays them on every
start, so a regression here shows up everywhere. Baseline: a bare ``python -m
http.server`` child process started and probed the same way, in the same run.

Run: .venv/bin/python bench/services_startup.py [--repeat N] [--only git,registry,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from flux_devkit.services.process import ServiceProcess, free_ports
from flux_devkit.services.stack import SERVICES, DevStack


def baseline(workdir: Path) -> ServiceProcess:
    (port,) = free_ports(1)
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    process = ServiceProcess("http.server", argv, workdir / "http.log", cwd=workdir)
    process.wait_http(f"http://127.0.0.1:{port}/")
    return process


def starter(name: str, workdir: Path) -> Callable[[], Any]:
    return partial(baseline, workdir) if name == "baseline" else partial(DevStack, workdir, [name])


def timed(start: Callable[[], Any]) -> tuple[float, float]:
    began = time.perf_counter()
    handle = start()
    ready = time.perf_counter() - began
    began = time.perf_counter()
    handle.stop()
    return ready, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(SERVICES))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    starts: dict[str, list[float]] = {name: [] for name in ["baseline", *names]}
    stops: dict[str, list[float]] = {name: [] for name in starts}
    with tempfile.TemporaryDirectory(prefix="bench-services-") as tmp:
        for round_no in range(args.repeat):
            for name in starts:
                workdir = Path(tmp) / f"{name}-{round_no}"
                workdir.mkdir()
                ready, stopped = timed(starter(name, workdir))
                starts[name].append(ready)
                stops[name].append(stopped)
    base = statistics.median(starts["baseline"])
    print(f"{'service':<12} {'ready s':>8} {'x baseline':>11} {'stop s':>8}")
    for name in starts:
        ready = statistics.median(starts[name])
        print(f"{name:<12} {ready:>8.2f} {ready / base:>11.1f} {statistics.median(stops[name]):>8.2f}")
    print(f"\nmedian of {args.repeat} starts each; baseline = python -m http.server child until it answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
