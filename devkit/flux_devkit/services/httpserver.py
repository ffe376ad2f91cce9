"""A stdlib HTTP server on a loopback port, served from a background thread.

The git server, the chart repository and the metrics exporter are small enough to run
inside the calling process; this gives them the same ``url``/``log_path``/``stop()``
shape as the services that run as child processes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flux_devkit.services.process import LOOPBACK


class LoggingHandler(BaseHTTPRequestHandler):
    """Request handler that writes its access log to the server's log file, not stderr."""

    server: LocalHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        self.server.write_log(f"{self.address_string()} - {format % args}")

    def authorized(self, *, anonymous_ok: bool = False) -> bool:
        """Check HTTP basic auth (or the bearer token, when the server has one); answer 401 if wrong."""
        expected = self.server.basic_auth
        if expected is None or anonymous_ok:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        given = b""
        if scheme.lower() == "basic":
            try:
                given = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                given = b""
        wanted = f"{expected[0]}:{expected[1]}".encode()
        if given and hmac.compare_digest(given, wanted):
            return True
        token = self.server.bearer_token
        if (
            token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(encoded.strip().encode(), token.encode())
        ):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Basic realm="{self.server.realm}"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def send_body(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class LocalHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to 127.0.0.1 on a free port, with optional basic auth."""

    daemon_threads = True

    def __init__(
        self,
        handler: type[LoggingHandler],
        log_path: Path,
        *,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        realm: str = "flux-dev",
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        super().__init__((LOOPBACK, port), handler)
        if tls is not None:  # (certificate, key): serve HTTPS
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.basic_auth = basic_auth
        self.bearer_token = bearer_token
        self.realm = realm
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"http-{handler.__name__}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    def write_log(self, line: str) -> None:
        with self._log_lock, open(self.log_path, "a") as log:
            log.write(line + "\n")

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()
