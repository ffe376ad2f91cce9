"""The connection list's "Test" button on Airflow 3.3.2 and older, for connections without a port.

The UI sends ``"port": Number(connection.port)``, which is ``0`` for a connection that has no
port (every Flux connection type hides the port field). The API then sees a port other than
the stored ``NULL``, takes it for a test against another destination, refuses to reuse the
stored secrets, and answers 400 "The host or port to test differs from the stored
connection" (apache/airflow#73298, fixed upstream after 3.3.2 by reading port 0 as no port).

This API-server middleware does exactly that fix and nothing else: on
``POST /api/v2/connections/test``, a JSON body whose ``port`` is ``0`` gets ``null``. No port
addresses port 0, so the request names the same destination it always did; everything else
(authorisation, which secrets may be reused) stays Airflow's. Airflow releases after 3.3.2
do not load it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from importlib.metadata import version
from typing import Any

from airflow.plugins_manager import AirflowPlugin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEST_PATH = "/api/v2/connections/test"
_MAX_BODY = 1 << 20  # a connection test body is a few KiB; anything larger passes untouched
LAST_AFFECTED = (3, 3, 2)


class PortlessConnectionTest:
    """ASGI middleware: ``port: 0`` in a connection test request becomes ``port: null``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != TEST_PATH:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let Airflow see it
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body"))
            if size > _MAX_BODY:
                break
        body = b"".join(chunks)
        if not more:
            body = _without_port_zero(body)
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        if not more:
            headers.append((b"content-length", str(len(body)).encode()))
        replayed = {"type": "http.request", "body": body, "more_body": more}
        await self.app({**scope, "headers": headers}, _replay([replayed], receive), send)


def _without_port_zero(body: bytes) -> bytes:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if not isinstance(data, dict) or data.get("port") != 0 or isinstance(data.get("port"), bool):
        return body
    return json.dumps({**data, "port": None}).encode()


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def next_message() -> Message:
        return pending.pop(0) if pending else await receive()

    return next_message


def affected(airflow_version: str) -> bool:
    """Whether this Airflow has the bug (its release, pre-releases counted as the release)."""
    release = re.match(r"(\d+)\.(\d+)\.(\d+)", airflow_version)
    return release is not None and tuple(int(n) for n in release.groups()) <= LAST_AFFECTED


class FluxConnectionTestPlugin(AirflowPlugin):
    """Loads :class:`PortlessConnectionTest` into the API server where Airflow needs it."""

    name = "flux_connection_test"
    fastapi_root_middlewares = (
        [{"middleware": PortlessConnectionTest, "name": "Test button for connections without a port"}]
        if affected(version("apache-airflow-core"))
        else []
    )
