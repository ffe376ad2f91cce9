"""A local HTTP server that records every request and answers like the real services would.

Paths decide the answer: ``/fail/<code>/…`` answers ``<code>``; ``…/chat.postMessage``
answers Slack's ``{"ok": true}`` (or ``channel_not_found`` for channel ``#missing``);
anything else ``200 ok`` (Slack webhooks) or ``202`` for PagerDuty's ``/v2/…``. It also acts
as a plain HTTP proxy: a request line with an absolute URL is recorded as such.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_flux_provider.devservices.httpserver import LocalHTTPServer, LoggingHandler


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class CaptureHandler(LoggingHandler):
    server: CaptureServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.record(Captured("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        parts = self.path.split("/")
        if "fail" in parts:
            code = int(parts[parts.index("fail") + 1])
            self.send_body(code, b'{"message":"refused"}', "application/json")
        elif self.path.endswith("chat.postMessage"):
            channel = json.loads(body or b"{}").get("channel")
            answer = {"ok": False, "error": "channel_not_found"} if channel == "#missing" else {"ok": True}
            self.send_body(200, json.dumps(answer).encode(), "application/json")
        elif "/v2/" in self.path:
            self.send_body(202, b'{"status":"success"}', "application/json")
        else:
            self.send_body(200, b"ok")


class CaptureServer(LocalHTTPServer):
    def __init__(self, log_path: Path) -> None:
        self.requests: list[Captured] = []
        self._lock = threading.Lock()
        super().__init__(CaptureHandler, log_path)

    def record(self, captured: Captured) -> None:
        with self._lock:
            self.requests.append(captured)

    def take(self) -> list[Captured]:
        """Everything recorded since the last call."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken
