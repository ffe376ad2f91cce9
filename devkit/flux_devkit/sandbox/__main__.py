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
from flux_devkit.sandbox.kubelet.settings import DEFAULT_BACKOFF_SECONDS, WorkloadSettings
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
    workloads = serve.add_argument_group("workloads (off unless --run-workloads)")
    workloads.add_argument(
        "--run-workloads",
        action="store_true",
        help="run Pods whose images come from an allowed registry as local processes",
    )
    workloads.add_argument(
        "--allow-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="a registry whose images may run (repeat for more); others stay simulated",
    )
    workloads.add_argument(
        "--registry-config", type=Path, help="Docker config.json with the node's pull credentials"
    )
    workloads.add_argument(
        "--backoff-seconds",
        type=float,
        default=DEFAULT_BACKOFF_SECONDS,
        help="first restart/retry back-off, doubling up to five minutes (Kubernetes: 10)",
    )
    workloads.add_argument(
        "--mesh-port", type=int, default=0, help="port of the mesh gateway on 127.0.0.1 (0: any free port)"
    )
    workloads.add_argument(
        "--lend-tool",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a host program images may run by NAME (default: python3, python, hey)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = SimulatorSettings(args.ready_delay, args.fail_image_pattern)
    try:
        workload_settings = _workload_settings(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        args.dir,
        port=args.port,
        state_file=args.state_file,
        kubeconfig=args.kubeconfig,
        settings=settings,
        token=os.environ.get(TOKEN_ENV) or None,
        workloads=workload_settings,
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


def _workload_settings(args: argparse.Namespace) -> WorkloadSettings | None:
    if not args.run_workloads:
        if args.allow_registry or args.lend_tool or args.registry_config:
            raise ValueError("--allow-registry, --registry-config and --lend-tool need --run-workloads")
        return None
    if not args.allow_registry:
        raise ValueError("--run-workloads needs at least one --allow-registry HOST[:PORT]")
    tools = []
    for entry in args.lend_tool:
        name, sep, path = entry.partition("=")
        if not sep or not name or "/" in name or not os.path.isabs(path):
            raise ValueError(f"--lend-tool {entry!r}: write NAME=/absolute/path")
        tools.append((name, path))
    return WorkloadSettings(
        tuple(args.allow_registry),
        registry_config=args.registry_config,
        backoff_seconds=args.backoff_seconds,
        mesh_port=args.mesh_port,
        **({"tools": tuple(tools)} if tools else {}),
    )


if __name__ == "__main__":
    sys.exit(main())
