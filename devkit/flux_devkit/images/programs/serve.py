#!/usr/bin/env python3
"""The serving image's program: load one model version from the MLflow registry and serve predictions.

``MODEL_URI`` (``models:/digits/2``) names the version, ``MLFLOW_TRACKING_URI`` the server.
The model loads in the background: ``/healthz`` answers 503 until it is ready (the
readiness probe) and 500 if loading failed. ``/predict`` answers ``GET`` with a prediction
for a fixed digit from the dataset (what a load test sends) and ``POST {"instances":
[[64 pixels], ...]}`` with one prediction per row. Binds ``$POD_IP`` (or 0.0.0.0) on
``$PORT`` (8080).

``FAIL_PERCENT`` and ``DELAY_MS`` make a build misbehave on purpose: that share of
``/predict`` requests answers 500, every one waits that long first. The demo's faulty
release sets them in its image config.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Model:
    """The loaded model, or why it is not there (yet)."""

    def __init__(self, uri: str, tracking_uri: str) -> None:
        self.uri = uri
        self.tracking_uri = tracking_uri
        self.model: Any = None
        self.sample: Any = None
        self.error = ""

    def load(self) -> None:
        try:
            import mlflow
            from sklearn.datasets import load_digits

            mlflow.set_tracking_uri(self.tracking_uri)
            self.sample = load_digits().data[:1]
            self.model = mlflow.sklearn.load_model(self.uri)
            print(f"loaded {self.uri} from {self.tracking_uri}", flush=True)
        except Exception as err:  # the health endpoint reports it; the process stays up for the logs
            self.error = f"cannot load {self.uri}: {type(err).__name__}: {err}"
            print(self.error, flush=True)

    def predict(self, rows: Any) -> list[int]:
        return [int(label) for label in self.model.predict(rows)]


class Faults:
    """Fail exactly ``percent`` of every hundred requests (spread evenly) after ``delay_ms``."""

    def __init__(self, percent: int, delay_ms: int) -> None:
        self.percent, self.delay = percent, delay_ms / 1000
        self._count = 0
        self._lock = threading.Lock()

    def next_fails(self) -> bool:
        with self._lock:
            self._count += 1
            n = self._count
        return n * self.percent // 100 != (n - 1) * self.percent // 100


def handler(model: Model, faults: Faults, version: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/healthz":
                if model.error:
                    return self.answer(500, {"error": model.error})
                return self.answer(
                    200 if model.model is not None else 503, {"ready": model.model is not None}
                )
            if path == "/predict":
                return self.predict(None)
            return self.answer(404, {"error": f"no route {path}; use /predict or /healthz"})

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/predict":
                return self.answer(404, {"error": "POST /predict only"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1_000_000:
                return self.answer(413, {"error": "body over 1 MB"})
            try:
                rows = json.loads(self.rfile.read(length) or b"{}").get("instances")
                if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 64 for r in rows):
                    raise ValueError
            except (ValueError, AttributeError):
                return self.answer(400, {"error": 'send {"instances": [[64 pixel values], ...]}'})
            return self.predict(rows)

        def predict(self, rows: Any) -> None:
            if model.model is None:
                return self.answer(503, {"error": model.error or "model loading"})
            if faults.delay:
                time.sleep(faults.delay)
            if faults.next_fails():
                return self.answer(500, {"error": "injected fault (FAIL_PERCENT)"})
            predictions = model.predict(model.sample if rows is None else rows)
            return self.answer(200, {"predictions": predictions, "model": model.uri, "version": version})

        def answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode() + b"\n"
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # load tests send thousands
            return

    return Handler


def main() -> int:
    env = os.environ
    uri, tracking_uri = env.get("MODEL_URI", ""), env.get("MLFLOW_TRACKING_URI", "")
    if not uri or not tracking_uri:
        print("error: set MODEL_URI (models:/<name>/<version>) and MLFLOW_TRACKING_URI", file=sys.stderr)
        return 2
    try:
        faults = Faults(int(env.get("FAIL_PERCENT") or 0), int(env.get("DELAY_MS") or 0))
    except ValueError:
        print("error: FAIL_PERCENT and DELAY_MS must be whole numbers", file=sys.stderr)
        return 2
    model = Model(uri, tracking_uri)
    threading.Thread(target=model.load, daemon=True).start()
    host, port = env.get("POD_IP") or "0.0.0.0", int(env.get("PORT", "8080"))
    server = ThreadingHTTPServer((host, port), handler(model, faults, env.get("MODEL_VERSION", "")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        f"serving {uri} on {host}:{port} (fail {faults.percent}%, delay {faults.delay * 1000:g} ms)",
        flush=True,
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
