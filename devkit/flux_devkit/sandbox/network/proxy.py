"""The HTTP proxy that plays the mesh, and the TCP proxies that play kube-proxy.

* Each running Pod gets a sidecar listener at ``<podIP>:15001`` (Istio's outbound port),
  injected into its containers as ``HTTP_PROXY``; requests through it know their source
  Pod and resolve short Service names in the Pod's namespace.
* A gateway listener on 127.0.0.1 serves callers outside the cluster (the Airflow worker's
  webhooks, tests, benchmarks) and ``GET /metrics`` for Prometheus.
* Each Service port gets a TCP listener at ``<clusterIP>:<port>`` balancing connections
  over its ready endpoints.

Requests are HTTP/1.1 with keep-alive on both sides (a small pool of idle upstream
connections per endpoint). Everything a client sends is bounded: header size and count,
body size, idle time; a request with both Content-Length and chunked framing is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flux_devkit.sandbox.network.routes import (
    Destination,
    Endpoint,
    Refusal,
    Request,
    RouteTable,
    resolve,
)
from flux_devkit.sandbox.network.telemetry import Telemetry

log = logging.getLogger(__name__)

SIDECAR_PORT = 15001
MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
MAX_BODY = 64 * 1024 * 1024
IDLE_SECONDS = 60.0
CONNECT_SECONDS = 5.0
DEFAULT_TIMEOUT = 60.0
POOL_SIZE = 32
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class ProtocolError(Exception):
    """The client sent something that is not HTTP/1.1 we accept; answered with 400 and closed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Message:
    """A parsed request or response head."""

    start: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def tokens(self, name: str) -> set[str]:
        return {t.strip().lower() for k, v in self.headers if k.lower() == name for t in v.split(",")}


async def read_head(reader: asyncio.StreamReader, timeout: float) -> Message | None:
    """The next message head, or None when the peer closed cleanly before sending one."""
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise ProtocolError("the message head ended early") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"the message head is larger than {MAX_HEAD} bytes", 431) from None
    lines = raw[:-4].decode("latin-1").split("\r\n")
    if len(lines) - 1 > MAX_HEADERS:
        raise ProtocolError(f"more than {MAX_HEADERS} header fields", 431)
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise ProtocolError(f"malformed header line {line[:60]!r}")
        headers.append((name, value.strip()))
    return Message(lines[0], headers)


async def read_body(reader: asyncio.StreamReader, head: Message) -> bytes:
    """A request body, framed by Content-Length or chunked encoding (de-chunked), within :data:`MAX_BODY`."""
    length, chunked = head.get("content-length"), "chunked" in head.tokens("transfer-encoding")
    if length is not None and chunked:
        raise ProtocolError("both Content-Length and chunked Transfer-Encoding")
    if chunked:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                raise ProtocolError("a chunk size is not hexadecimal") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers are dropped
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise ProtocolError(f"the body is larger than {MAX_BODY} bytes", 413)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if length is None:
        return b""
    if not length.isdigit() or len({v for k, v in head.headers if k.lower() == "content-length"}) > 1:
        raise ProtocolError(f"bad Content-Length {length!r}")
    if int(length) > MAX_BODY:
        raise ProtocolError(f"the body is larger than {MAX_BODY} bytes", 413)
    return await reader.readexactly(int(length))


def _answer(status: int, text: str, *, close: bool = False) -> bytes:
    body = (text + "\n").encode()
    reason = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
              431: "Request Header Fields Too Large", 502: "Bad Gateway", 503: "Service Unavailable",
              504: "Gateway Timeout"}.get(status, "Error")  # fmt: skip
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {len(body)}\r\n"
    head += "server: sandbox-mesh\r\n" + ("connection: close\r\n" if close else "")
    return head.encode() + b"\r\n" + body


class UpstreamPool:
    """Idle keep-alive connections per endpoint address."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def get(self, ip: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A connection (reused: ``True`` as third value, so a failure may be retried once on a new one)."""
        idle = self._idle.get((ip, port)) or []
        while idle:
            reader, writer = idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, limit=MAX_HEAD), CONNECT_SECONDS
        )
        return reader, writer, False

    def put(self, ip: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        idle = self._idle.setdefault((ip, port), [])
        if len(idle) < POOL_SIZE:
            idle.append((reader, writer))
        else:
            writer.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle.clear()


class HttpProxy:
    """Serves one listener: the gateway (``source_ip`` None) or one Pod's sidecar."""

    def __init__(
        self,
        table: Callable[[], RouteTable],
        telemetry: Telemetry,
        pool: UpstreamPool,
        *,
        source_ip: str | None = None,
    ) -> None:
        self.table = table
        self.telemetry = telemetry
        self.pool = pool
        self.source_ip = source_ip
        self._next = itertools.count()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await read_head(reader, IDLE_SECONDS)
                    if head is None:
                        return
                    keep = await self._one(head, reader, writer)
                except ProtocolError as err:
                    writer.write(_answer(err.status, f"sandbox mesh: {err}", close=True))
                    return
                except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()

    async def _one(self, head: Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Handle one request; True when the client connection stays open for the next one."""
        method, target, version = _request_line(head)
        body = await read_body(reader, head)
        keep = version == "HTTP/1.1" and "close" not in head.tokens("connection")
        if method == "CONNECT":
            writer.write(_answer(405, "sandbox mesh: CONNECT tunnels are not supported; use http:// URLs"))
            return keep
        if target.startswith("/") and self.source_ip is None:
            return self._local(target, writer, keep)
        url = urlsplit(target if "://" in target else f"http://{head.get('host') or ''}{target}")
        if url.scheme != "http" or not url.hostname:
            writer.write(
                _answer(400, f"sandbox mesh: cannot proxy {target[:100]!r}; send http://host[:port]/path")
            )
            return keep
        table = self.table()
        source = table.pods.get(self.source_ip) if self.source_ip else None
        request = Request(
            url.hostname,
            url.port or 80,
            (url.path or "/") + (f"?{url.query}" if url.query else ""),
            method,
            {k.lower(): v for k, v in head.headers},
            source.namespace if source else None,
        )
        decision = resolve(table, request, mesh=self.source_ip is not None)
        if isinstance(decision, Refusal):
            writer.write(_answer(decision.status, decision.message))
            return keep
        endpoint = self._pick(decision)
        started = time.monotonic()
        if endpoint is None:
            writer.write(_answer(503, "no healthy upstream"))
            self.telemetry.record(decision, None, source, 503, time.monotonic() - started, method)
            return keep
        status, upstream_keep = await self._forward(head, method, request, body, decision, endpoint, writer)
        self.telemetry.record(decision, endpoint, source, status, time.monotonic() - started, method)
        return keep and upstream_keep

    def _local(self, target: str, writer: asyncio.StreamWriter, keep: bool) -> bool:
        path = target.split("?")[0]
        if path == "/metrics":
            body = self.telemetry.exposition()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
        elif path == "/healthz":
            writer.write(_answer(200, "ok"))
        else:
            writer.write(
                _answer(404, "sandbox mesh: this is a proxy; send absolute http:// URLs (GET /metrics)")
            )
        return keep

    def _pick(self, decision: Destination) -> Endpoint | None:
        if decision.pod_ip:
            return Endpoint(decision.pod_ip, decision.port, self.table().pods.get(decision.pod_ip))
        assert decision.service is not None
        ready = decision.service.endpoints.get(decision.port) or ()
        return ready[next(self._next) % len(ready)] if ready else None

    async def _forward(
        self,
        head: Message,
        method: str,
        request: Request,
        body: bytes,
        decision: Destination,
        endpoint: Endpoint,
        writer: asyncio.StreamWriter,
    ) -> tuple[int, bool]:
        """Send the request to the endpoint and stream the answer back: ``(status, upstream kept alive)``."""
        connection_headers = head.tokens("connection")
        lines = [f"{method} {request.path} HTTP/1.1", f"host: {request.host}:{request.port}"]
        for name, value in head.headers:
            lowered = name.lower()
            if (
                lowered in HOP_BY_HOP
                or lowered in connection_headers
                or lowered in ("host", "content-length")
            ):
                continue
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body)}")
        outgoing = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        timeout = decision.timeout or DEFAULT_TIMEOUT
        for attempt in (0, 1):
            try:
                up_reader, up_writer, reused = await self.pool.get(endpoint.ip, endpoint.port)
            except (TimeoutError, OSError) as err:
                writer.write(_answer(503, f"upstream connect error: {type(err).__name__}"))
                return 503, True
            try:
                up_writer.write(outgoing)
                await up_writer.drain()
                response = await read_head(up_reader, timeout)
            except (OSError, ProtocolError, asyncio.IncompleteReadError):
                response = None
            except TimeoutError:
                up_writer.close()
                writer.write(_answer(504, "upstream request timeout"))
                return 504, True
            if response is None:
                up_writer.close()
                if reused and attempt == 0:
                    continue  # an idle connection the upstream had closed: once more on a new one
                writer.write(_answer(503, "upstream connect error or disconnect/reset before headers"))
                return 503, True
            return await self._relay(response, method, up_reader, up_writer, endpoint, writer)
        return 503, True

    async def _relay(
        self,
        response: Message,
        method: str,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        endpoint: Endpoint,
        writer: asyncio.StreamWriter,
    ) -> tuple[int, bool]:
        try:
            status = int(response.start.split(" ", 2)[1])
        except (IndexError, ValueError):
            up_writer.close()
            writer.write(_answer(502, "the upstream answered something that is not HTTP"))
            return 502, True
        chunked = "chunked" in response.tokens("transfer-encoding")
        length = response.get("content-length")
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        until_close = not no_body and not chunked and length is None
        keep = "close" not in response.tokens("connection") and not until_close
        kept = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        if chunked and not no_body:
            kept.append(("transfer-encoding", "chunked"))
        if until_close:
            kept.append(("connection", "close"))
        head = [response.start.replace("HTTP/1.0", "HTTP/1.1", 1), *(f"{k}: {v}" for k, v in kept)]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        try:
            if no_body:
                pass
            elif chunked:
                while True:
                    line = await up_reader.readuntil(b"\r\n")
                    writer.write(line)
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while (trailer := await up_reader.readuntil(b"\r\n")) != b"\r\n":
                            writer.write(trailer)
                        writer.write(b"\r\n")
                        break
                    writer.write(await up_reader.readexactly(size + 2))
                    await writer.drain()
            elif length is not None:
                remaining = int(length)
                while remaining > 0:
                    chunk = await up_reader.read(min(remaining, 1 << 16))
                    if not chunk:
                        raise ConnectionError("the upstream closed mid-body")
                    writer.write(chunk)
                    remaining -= len(chunk)
                    await writer.drain()
            else:
                while chunk := await up_reader.read(1 << 16):
                    writer.write(chunk)
                    await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            up_writer.close()
            raise ConnectionError("the upstream broke off") from None
        if keep:
            self.pool.put(endpoint.ip, endpoint.port, up_reader, up_writer)
        else:
            up_writer.close()
        return status, not until_close


def _request_line(head: Message) -> tuple[str, str, str]:
    parts = head.start.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ProtocolError(f"malformed request line {head.start[:80]!r}")
    method, target, version = parts
    if len(target) > 8192:
        raise ProtocolError("the request target is longer than 8192 bytes", 414)
    return method, target, version


class ServiceProxy:
    """kube-proxy for one ``clusterIP:port``: each connection goes to the next ready endpoint."""

    def __init__(self, table: Callable[[], RouteTable], namespace: str, name: str, port: int) -> None:
        self.table = table
        self.key = (namespace, name)
        self.port = port
        self._next = itertools.count()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        service = self.table().services.get(self.key)
        ready = (service.endpoints.get(self.port) if service else None) or ()
        if not ready:
            writer.close()
            return
        endpoint = ready[next(self._next) % len(ready)]
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.ip, endpoint.port), CONNECT_SECONDS
            )
        except (TimeoutError, OSError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()
