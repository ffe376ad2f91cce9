#!/usr/bin/env python3
"""A flagger-loadtester-compatible webhook service: Flagger's ``cmd`` hooks start load tests.

``POST /`` takes Flagger's webhook payload (``name``, ``namespace``, ``metadata``). As the
real load tester does: an empty ``metadata`` is a 400, ``type`` defaults to ``cmd``, the
command starts in the background and the answer is 202 at once; the same command for the
same canary is not started again while it runs; a command is killed after ``$CMD_TIMEOUT``
seconds (3600); ``logCmdOutput: "true"`` prints its output (a failed command's output is
printed always: its exit code is reported nowhere else). Other types (bash, helm,
kubectl, gates) answer 400: this image runs load tests only.

The command line is split as a shell would split it but runs without a shell (the image
has none), so pipes and redirections are not available. ``hey`` ignores ``HTTP_PROXY``: the
Pod's proxy (the mesh sidecar, which resolves cluster names) is passed with ``-x`` unless
the command gives one (as a URL: hey 0.1.4 refuses a bare ``host:port``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Runner:
    """Background commands keyed by canary and command line; a key runs once at a time."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def start(self, key: str, argv: list[str], log_output: bool) -> bool:
        """Start ``argv`` unless the same key runs; whether it started."""
        with self._lock:
            if key in self._running:
                return False
            self._running.add(key)
        threading.Thread(target=self._run, args=(key, argv, log_output), daemon=True).start()
        return True

    def _run(self, key: str, argv: list[str], log_output: bool) -> None:
        print(f"started {shlex.join(argv)}", flush=True)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
            outcome, output = f"exit code {done.returncode}", done.stdout + done.stderr
        except subprocess.TimeoutExpired as err:
            outcome, output = f"killed after {self.timeout:g}s", str(err.stdout or "")
        except OSError as err:
            outcome, output = f"could not start: {err.strerror}", ""
        finally:
            with self._lock:
                self._running.discard(key)
        print(f"finished {argv[0]}: {outcome}", flush=True)
        if output and (log_output or outcome != "exit code 0"):
            print(output.rstrip(), flush=True)


def command_line(cmd: str, proxy: str) -> list[str]:
    """``cmd`` as an argument list; ``hey`` gets the Pod's proxy as ``-x http://host:port``."""
    argv = shlex.split(cmd)
    if argv and argv[0] == "hey" and "-x" not in argv and proxy:
        argv[1:1] = ["-x", proxy if "://" in proxy else f"http://{proxy}"]
    return argv


def handler(runner: Runner, proxy: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                return self.answer(200, "OK")
            return self.answer(404, "POST / with a Flagger webhook payload")

        def do_POST(self) -> None:
            if self.path not in ("/", ""):
                return self.answer(400, f"{self.path}: this load tester serves POST / (type cmd) only")
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1_000_000:
                return self.answer(413, "payload over 1 MB")
            try:
                payload: Any = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self.answer(400, "the payload is not JSON")
            metadata = payload.get("metadata") if isinstance(payload, dict) else None
            if not metadata or not isinstance(metadata, dict):
                return self.answer(400, "metadata not found in payload")
            kind = metadata.get("type") or "cmd"
            if kind != "cmd":
                return self.answer(400, f"type {kind} is not supported by this load tester; use cmd")
            cmd = metadata.get("cmd")
            if not isinstance(cmd, str) or not cmd.strip():
                return self.answer(400, "cmd not found in metadata")
            try:
                argv = command_line(cmd, proxy)
            except ValueError as err:
                return self.answer(400, f"cmd cannot be split into arguments: {err}")
            canary = f"{payload.get('name', '')}.{payload.get('namespace', '')}"
            key = hashlib.sha256(f"{canary}\0{cmd}".encode()).hexdigest()
            started = runner.start(key, argv, str(metadata.get("logCmdOutput")).lower() == "true")
            return self.answer(202, "command started" if started else "command already running, skipped")

        def answer(self, code: int, text: str) -> None:
            body = text.encode() + b"\n"
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def main() -> int:
    env = os.environ
    try:
        timeout = float(env.get("CMD_TIMEOUT") or 3600)
    except ValueError:
        print("error: CMD_TIMEOUT must be a number of seconds", file=sys.stderr)
        return 2
    host, port = env.get("POD_IP") or "0.0.0.0", int(env.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), handler(Runner(timeout), env.get("HTTP_PROXY", "")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"load tester listening on {host}:{port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
