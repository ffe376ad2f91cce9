"""``python -m flux_devkit.sandbox serve``: run the sandbox API server until interrupted."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from flux_devkit.sandbox.cluster import TOKEN_ENV, Sandbox
from flux_devkit.sandbox.simulator import DEFAULT_FAIL_IMAGE_PATTERN, SimulatorSettings
from flux_devkit.sandbox.status import SandboxError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flux_devkit.sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the sandbox API on 127.0.0.1 until SIGINT/SIGTERM")
    serve.add_argument("--port", type=int, default=6443, help="HTTPS port (0: any free port)")
    serve.add_argument("--dir", type=Path, default=Path(".sandbox"), help="folder for certificates and logs")
    serve.add_argument("--state-file", type=Path, help="keep objects in this JSON file across restarts")
    serve.add_argument(
        "--kubeconfig", type=Path, help="where to write the kubeconfig (default DIR/kubeconfig)"
    )
    serve.add_argument("--ready-delay", type=float, default=0.2, help="seconds until workloads become ready")
    serve.add_argument(
        "--fail-image-pattern",
        default=DEFAULT_FAIL_IMAGE_PATTERN,
        help="regex: workloads with a matching image never become ready",
    )
    serve.add_argument("--verbose", action="store_true", help="log every request (never bodies or tokens)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = SimulatorSettings(args.ready_delay, args.fail_image_pattern)
    sandbox = Sandbox(
        args.dir,
        port=args.port,
        state_file=args.state_file,
        kubeconfig=args.kubeconfig,
        settings=settings,
        token=os.environ.get(TOKEN_ENV) or None,
    )
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    try:
        sandbox.start()
    except SandboxError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"sandbox serving {sandbox.url}; kubeconfig {sandbox.kubeconfig}", flush=True)
    done.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
