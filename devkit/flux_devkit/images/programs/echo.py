#!/usr/bin/env python3
"""A trivial HTTP service for tests and benchmarks (standard library only).

Binds ``$POD_IP`` (set it with the downward API) or ``$BIND_ADDRESS`` on ``$PORT`` (8080).
``/healthz`` answers 503 until ``$READY_AFTER`` seconds have passed; ``/status/<code>``
answers that code; ``/sleep/<ms>`` waits first; ``/exit/<code>`` ends the process with
that code; anything else echoes the pod name, ``$VERSION``, the path and the Host header.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[0] == "healthz":
            ready = time.monotonic() - STARTED >= float(os.environ.get("READY_AFTER", "0"))
            return self.answer(200 if ready else 503, b"ok\n" if ready else b"starting\n")
        if parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
            return self.answer(int(parts[1]), f"status {parts[1]}\n".encode())
        if parts[0] == "sleep" and len(parts) == 2 and parts[1].isdigit():
            time.sleep(int(parts[1]) / 1000)
        if parts[0] == "exit" and len(parts) == 2 and parts[1].isdigit():
            self.answer(200, b"bye\n")
            threading.Timer(0.05, os._exit, args=(int(parts[1]),)).start()
            return None
        body = {
            "pod": os.environ.get("HOSTNAME", ""),
            "version": os.environ.get("VERSION", ""),
            "path": self.path,
            "host": self.headers.get("Host", ""),
        }
        return self.answer(200, json.dumps(body).encode() + b"\n", "application/json")

    do_POST = do_GET

    def answer(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: benchmarks send thousands
        return


def main() -> None:
    host = os.environ.get("BIND_ADDRESS") or os.environ.get("POD_IP") or "0.0.0.0"
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: (print("stopping", flush=True), sys.exit(0)))
    print(f"listening on {host}:{port} version={os.environ.get('VERSION', '')}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
