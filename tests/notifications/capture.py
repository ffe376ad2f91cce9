"""A local HTTP server that records every request and answers like the real services would.

Paths decide the answer: ``/fail/<code>/…`` answers ``<code>``; ``…/chat.postMessage``
answers Slack's ``{"ok": true}`` (or ``channel_not_found`` for channel ``#missing``);
anything else ``200 ok`` (Slack webhooks) or ``202`` for PagerDuty's ``/v2/…``. It also acts
as a plain HTTP proxy: a request line with an absolute URL is recorded as such.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flux_devkit.services.httpserver import LocalHTTPServer, LoggingHandler


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


class TLSCaptureServer(CaptureServer):
    """The capture server behind HTTPS with a certificate for 127.0.0.1 (``cert_pem``)."""

    def __init__(self, log_path: Path, cert_pem: str, key_pem: str) -> None:
        self.cert_pem = cert_pem
        cert_file, key_file = log_path.with_name("cert.pem"), log_path.with_name("key.pem")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cert_file.write_text(cert_pem)
        key_file.write_text(key_pem)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert_file, key_file)
        super().__init__(log_path)

    def server_activate(self) -> None:
        super().server_activate()
        self.socket = self._tls.wrap_socket(self.socket, server_side=True)

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://")


LOOPBACK_IP = ipaddress.ip_address("127.0.0.1")


def self_signed_certificate() -> tuple[str, str]:
    """``(certificate PEM, key PEM)`` valid for 127.0.0.1 for one day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()
