"""The bearer-token challenge flow against docker-registry configured with ``auth: token``.

The registry trusts a certificate generated here; a small token server (this test's own
HTTP server, checking basic auth) issues RS256 JWTs signed by that certificate's key and
carrying it in ``x5c``, as Docker Hub or Harbor token services do.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.registry import scan
from flux_devkit.services.process import ServiceProcess, free_ports
from flux_devkit.services.registry import OciRegistry, start_registry

USER, PASSWORD = "robot", "token-secret"
SERVICE, ISSUER = "flux-test-registry", "flux-test-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRegistry:
    host: str
    writer: OciRegistry  # anonymous registry on the same storage, used to push test images
    issued: list[str]


def _certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flux-test-token-issuer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _jwt(key: rsa.RSAPrivateKey, cert: x509.Certificate, scope: str) -> str:
    header = {
        "typ": "JWT",
        "alg": "RS256",
        "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()],
    }
    access = []
    if scope:
        kind, name, actions = scope.split(":")
        access = [{"type": kind, "name": name, "actions": actions.split(",")}]
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": USER,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "access": access,
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    work = tmp_path_factory.mktemp("token-registry")
    key, cert = _certificate()
    (work / "root.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    issued: list[str] = []
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class TokenHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            if self.headers.get("Authorization") != expected or query.get("service") != [SERVICE]:
                self.send_response(401)
                self.end_headers()
                return
            scope = query.get("scope", [""])[0]
            issued.append(scope)
            body = json.dumps({"token": _jwt(key, cert, scope)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    tokens = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenHandler)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    writer = start_registry(work / "writer", username=None, password=None)
    (port,) = free_ports(1)
    host = f"127.0.0.1:{port}"
    config = {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(work / "writer" / "data")}},
        "http": {"addr": host, "secret": uuid.uuid4().hex},
        "auth": {
            "token": {
                "realm": f"http://127.0.0.1:{tokens.server_address[1]}/token",
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(work / "root.pem"),
            }
        },
    }
    (work / "config.yml").write_text(yaml.safe_dump(config))
    binary = shutil.which("docker-registry")
    assert binary is not None
    process = ServiceProcess(
        "token-registry", [binary, "serve", str(work / "config.yml")], work / "registry.log"
    )
    try:
        process.wait_http(f"http://{host}/v2/", ready=(401,), timeout=30)
        yield TokenRegistry(host, writer, issued)
    finally:
        process.stop()
        writer.stop()
        tokens.shutdown()


def test_bearer_challenge_fetches_a_scoped_token(token_registry: TokenRegistry) -> None:
    for tag in ("1.0.0", "1.1.0"):
        token_registry.writer.push_image("token/app", tag)
    result = scan(
        f"{token_registry.host}/token/app",
        credentials=Credentials(username=USER, password=PASSWORD),
        insecure=True,
    )
    assert sorted(result.tags) == ["1.0.0", "1.1.0"]
    assert token_registry.issued[-1] == "repository:token/app:pull"


def test_token_service_refusal_is_clear(token_registry: TokenRegistry) -> None:
    with pytest.raises(ImageError) as info:
        scan(
            f"{token_registry.host}/token/app",
            credentials=Credentials(username=USER, password="nope"),
            insecure=True,
        )
    assert "refused the token request with 401" in str(info.value)
    assert "nope" not in str(info.value)
