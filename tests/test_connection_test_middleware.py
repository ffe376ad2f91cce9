"""The API-server middleware for apache/airflow#73298: ``port: 0`` in a connection test is no port.

Driven as the API server drives it (ASGI messages), with a recording app behind it: only a
JSON test body whose port is exactly 0 changes; everything else reaches Airflow byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_flux_provider.plugins.connection_test import TEST_PATH, PortlessConnectionTest, affected


def _through(
    body: bytes, *, path: str = TEST_PATH, method: str = "POST", chunk: int = 0
) -> tuple[bytes, dict]:
    seen: dict[str, Any] = {}

    async def app(scope: dict, receive: Any, send: Any) -> None:
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        seen["body"], seen["headers"] = b"".join(parts), dict(scope["headers"])

    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)
    ]

    async def receive() -> dict:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-length", str(len(body)).encode())],
    }
    asyncio.run(PortlessConnectionTest(app)(scope, receive, lambda message: asyncio.sleep(0)))
    return seen["body"], seen["headers"]


def test_port_zero_becomes_no_port_and_the_length_follows():
    sent = {
        "connection_id": "git",
        "conn_type": "flux_git",
        "host": "ssh://h/r.git",
        "password": "***",
        "port": 0,
    }
    body, headers = _through(json.dumps(sent).encode(), chunk=7)
    assert json.loads(body) == {**sent, "port": None}
    assert headers[b"content-length"] == str(len(body)).encode()


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"connection_id": "c", "port": 22}).encode(),
        json.dumps({"connection_id": "c", "port": None}).encode(),
        json.dumps({"connection_id": "c", "port": False}).encode(),
        json.dumps([{"port": 0}]).encode(),
        b'{"port": 0',  # not JSON: Airflow answers it as it would
        b"[" * 100_000,  # nested past the parser's depth
        json.dumps({"port": 0, "pad": "x" * (2 << 20)}).encode(),  # past the 1 MiB the middleware reads
    ],
)
def test_everything_else_reaches_airflow_unchanged(body: bytes):
    assert _through(body, chunk=65536)[0] == body


def test_other_routes_are_not_touched():
    body = json.dumps({"port": 0}).encode()
    assert _through(body, path="/api/v2/connections")[0] == body
    assert _through(body, method="PATCH")[0] == body


def test_only_releases_with_the_bug_load_it():
    assert affected("3.3.2") and affected("3.2.0") and affected("3.3.2rc1")
    assert not affected("3.3.3") and not affected("3.4.0.dev0")
