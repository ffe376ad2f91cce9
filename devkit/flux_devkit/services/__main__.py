"""Start local services and keep them running until Ctrl-C / SIGTERM.

    python -m flux_devkit.services [--only git,registry] [--workdir DIR] [--info-file FILE]

Endpoints are printed; endpoints plus credentials go to the info file (mode 0600),
which a demo reads to create its Airflow connections.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from flux_devkit.services.process import ServiceError
from flux_devkit.services.stack import SERVICES, DevStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flux_devkit.services")
    parser.add_argument("--only", default=",".join(SERVICES), help=f"comma-separated subset of {SERVICES}")
    parser.add_argument("--workdir", type=Path, help="data and logs (default: a new temporary folder)")
    parser.add_argument("--info-file", type=Path, help="where to write endpoints and credentials as JSON")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flux-devservices-"))
    info_file = args.info_file or workdir / "services.json"

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack = DevStack(workdir, [name.strip() for name in args.only.split(",") if name.strip()])
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    with stack:
        info = stack.describe()
        fd = os.open(info_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(info, out, indent=2)
        for name, details in info.items():
            endpoint = next(iter(details.values()))
            print(f"{name:<11} {endpoint}   log: {stack.log_paths()[name]}")
        print(f"credentials: {info_file}   (Ctrl-C stops everything)", flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
