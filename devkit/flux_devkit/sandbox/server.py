"""The HTTPS front of the sandbox: authentication, routing, encoding, faults and counters.

A stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive; TLS handshakes run
in the request thread so one slow client cannot stall accepts. Resource requests are
routed to :class:`~flux_devkit.sandbox.verbs.ResourceApi`; everything that
goes wrong becomes a Kubernetes ``Status`` body.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flux_devkit.sandbox import discovery, openapi, printing
from flux_devkit.sandbox.faults import Counters, Fault, Faults
from flux_devkit.sandbox.kubelet.kubelet import Kubelet
from flux_devkit.sandbox.network.addresses import SERVICE_NETWORK
from flux_devkit.sandbox.network.mesh import Mesh
from flux_devkit.sandbox.rbac import Attributes, Authorizer, User
from flux_devkit.sandbox.resources import REVIEW_GROUP, ResourceTable
from flux_devkit.sandbox.simulator import WorkloadSimulator
from flux_devkit.sandbox.status import ApiError, bad_request
from flux_devkit.sandbox.store import Store
from flux_devkit.sandbox.verbs import Call, ResourceApi, decode_body

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # the API server's request size limit for JSON bodies
MAX_CONNECTIONS = 512  # open connections served at once (watches hold one each); more are dropped
IDLE_TIMEOUT = 60.0  # seconds a connection may stay silent (TLS handshake, headers, body, keep-alive)
_IMPERSONATE_WITHOUT_USER = ("impersonate-group", "impersonate-uid", "impersonate-extra-")
ROOT_PATHS = ("/api", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version")
DRAIN_LIMIT = 64 * 1024 * 1024  # larger bodies are not read at all: the connection is just closed


class ApiServer(ThreadingHTTPServer):
    """Owns the state (store, resource table, RBAC, faults, counters) behind one listening socket."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        *,
        token: str,
        cert_path: Path,
        key_path: Path,
        store: Store | None = None,
        table: ResourceTable | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
        service_network: str = SERVICE_NETWORK,
    ) -> None:
        super().__init__((host, port), ApiHandler)
        self.token = token
        self.store = store or Store()
        self.table = table or ResourceTable()
        self.api = ResourceApi(self.store, self.table, service_network)
        self.authorizer = Authorizer(self.store)
        self.faults = Faults()
        self.counters = Counters()
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(str(cert_path), str(key_path))
        self.ssl_context.set_alpn_protocols(["http/1.1"])
        self.simulator: WorkloadSimulator | None = None
        self.kubelet: Kubelet | None = None
        self.mesh: Mesh | None = None
        self._thread: threading.Thread | None = None
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._slots = threading.BoundedSemaphore(max_connections)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, at most ``max_connections`` at once: past that the connection
        is closed at once instead of pinning another thread (the API server's max-in-flight)."""
        if not self._slots.acquire(blocking=False):
            log.warning("%d connections open; refusing one from %s", self.max_connections, client_address)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="sandbox-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.api.stopping.set()
        self.store.wake_all()
        self.shutdown()
        self.server_close()


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: responses are buffered, so headers and body leave in one TLS record (``handle_one_request``
    #: flushes after each request; watches and logs flush each chunk)
    wbufsize = -1
    server: ApiServer
    server_version = "flux-sandbox"
    sys_version = ""
    _body_pending = False

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # no read or handshake waits forever

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):  # formatted only when logged: once per request
            log.debug("%s - %s", self.address_string(), format % args)

    def handle_expect_100(self) -> bool:
        answered = super().handle_expect_100()
        self.wfile.flush()  # the client waits for the 100 before it sends the body
        return answered

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- plumbing -------------------------------------------------------------------------------
    def _send(
        self,
        code: int,
        body: Any,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for warning in warnings or []:
            self.send_header("Warning", f'299 - "{warning}"'.replace("\n", " "))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _content_length(self) -> int:
        """The declared body length; 400 (and the connection closed) for anything but one non-negative
        decimal number, or for Content-Length beside chunked encoding, as Go's HTTP server answers."""
        values = self.headers.get_all("Content-Length") or []
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        if not values:
            return 0
        if len(set(values)) > 1 or chunked or not values[0].strip().isdigit() or not values[0].isascii():
            self.close_connection = True
            raise bad_request(f"bad Content-Length {values!r}: send one non-negative number of bytes")
        return int(values[0])

    def _read_body(self) -> bytes:
        length = self._content_length()
        self._body_pending = False
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024).split(b";")[0].strip() or b"0"
                try:
                    size = int(line, 16)
                except ValueError:
                    self.close_connection = True
                    raise bad_request("malformed chunked encoding: a chunk size is not hexadecimal") from None
                if size < 0:
                    self.close_connection = True
                    raise bad_request("malformed chunked encoding: a negative chunk size")
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    raise ApiError(413, f"Request entity too large: limit is {MAX_BODY}")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        if length > MAX_BODY:
            self.close_connection = True
            if length <= DRAIN_LIMIT:  # read it so the client sees our answer, not a reset connection
                while length > 0:
                    length -= len(self.rfile.read(min(length, 1 << 20)) or b"\0" * length)
            raise ApiError(413, f"Request entity too large: limit is {MAX_BODY}")
        return self.rfile.read(length) if length else b""

    def _user(self) -> User:
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), self.server.token.encode()
        ):
            raise ApiError(401, "Unauthorized")
        impersonate = self.headers.get("Impersonate-User")
        groups = self.headers.get_all("Impersonate-Group") or []
        if not impersonate:
            others = [h for h in self.headers if h.lower().startswith(_IMPERSONATE_WITHOUT_USER)]
            if others:  # the API server refuses to impersonate groups of nobody in particular
                raise ApiError(
                    403,
                    f"requested {sorted(set(others))} without impersonating a user; "
                    "set Impersonate-User as well",
                )
            return User.admin()
        return User.impersonated(impersonate, groups)

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "0").strip()
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        self._body_pending = chunked or length not in ("", "0")
        try:
            self._route()
        except ApiError as err:
            if self._body_pending:  # unread bytes would be taken for the next request
                self.close_connection = True
            self._send(err.code, err.status(), headers=err.headers)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception:  # a bug must not kill the connection thread silently: answer 500 and log it
            log.exception("internal error serving %s %s", self.command, self.path)
            failure = ApiError(
                500, "Internal error occurred: the sandbox failed to serve this request; see its log"
            )
            self._send(500, failure.status())

    # -- routing --------------------------------------------------------------------------------
    def _route(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if path in ("/healthz", "/readyz", "/livez"):
            return self._send(200, b"ok", content_type="text/plain; charset=utf-8")
        if path == "/version":
            return self._send(200, discovery.version_info())
        user = self._user()  # before a byte of the body is read: strangers cost nothing
        body = self._read_body() if self.command in ("POST", "PUT", "PATCH", "DELETE") else b""
        segments = [s for s in path.split("/") if s]
        if not segments:
            return self._send(200, {"paths": sorted(ROOT_PATHS)})
        if segments and segments[0] == "sandbox":
            return self._sandbox_admin(user, segments[1:], body)
        if path == "/openapi/v2":  # clients only fall back to it; an empty v2 document makes them skip it
            return self._send(200, openapi.EMPTY_V2_PROTOBUF, content_type=openapi.V2_PROTOBUF)
        if segments[:2] == ["openapi", "v3"]:
            return self._openapi(segments[2:])
        if path == "/api":
            return self._send(200, discovery.api_versions(f"127.0.0.1:{self.server.port}"))
        if path == "/apis":
            return self._send(200, discovery.group_list(self.server.table))
        if segments[0] == "api" and len(segments) >= 2:
            group, version, rest = "", segments[1], segments[2:]
        elif segments[0] == "apis" and len(segments) >= 2:
            if len(segments) == 2:
                doc = discovery.group(self.server.table, segments[1])
                if doc is None:
                    raise ApiError(404, "the server could not find the requested resource")
                return self._send(200, doc)
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        if not rest:
            listing = discovery.resource_list(self.server.table, group, version)
            if listing is None:
                raise ApiError(404, "the server could not find the requested resource")
            return self._send(200, listing)
        self._resource(user, group, version, rest, query, body)

    def _openapi(self, rest: list[str]) -> None:
        table = self.server.table
        if not rest:
            return self._send(200, openapi.root(table))
        if rest[0] == "api" and len(rest) == 2:
            doc = openapi.group_version_doc(table, "", rest[1])
        elif rest[0] == "apis" and len(rest) == 3:
            doc = openapi.group_version_doc(table, rest[1], rest[2])
        else:
            doc = None
        if doc is None:
            raise ApiError(404, "the server could not find the requested resource")
        self._send(200, doc)

    def _resource(
        self, user: User, group: str, version: str, rest: list[str], query: dict[str, str], body: bytes
    ) -> None:
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] == "status"):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        rt = self.server.table.lookup(group, version, plural)
        if rt is None or (subresource and subresource not in rt.subresources()):
            raise ApiError(404, "the server could not find the requested resource")
        if rt.namespaced is False and namespace:
            raise ApiError(404, "the server could not find the requested resource")
        verb = self._verb(bool(name), query)
        if verb not in rt.verbs and not subresource:
            raise ApiError(405, f"{rt.group_resource} only supports {', '.join(rt.verbs)}")
        resource = f"{plural}/{subresource}" if subresource else plural
        dry_run = query.get("dryRun") == "All"
        self.server.counters.count(verb, resource, dry_run=dry_run)
        self.server.authorizer.check(user, Attributes(verb, group, plural, subresource, namespace, name))
        self.server.faults.apply(verb, resource, namespace, name, dry_run)
        manager = query.get("fieldManager") or (self.headers.get("User-Agent") or "unknown").split("/")[0]
        call = Call(rt, namespace, name, subresource, query, manager)
        api = self.server.api
        if rt.namespaced and name and not namespace:
            raise ApiError(404, "the server could not find the requested resource")
        if subresource == "log":
            if verb != "get":
                raise ApiError(405, "the server does not allow this method on the requested resource")
            api.get(call)  # 404 for a missing pod
            kubelet = self.server.kubelet
            stream = kubelet.logs(namespace, name, query) if kubelet is not None else None
            return self._stream(
                stream if stream is not None else iter([b""])
            )  # a simulated Pod prints nothing
        if verb == "watch":
            return self._watch(call)
        if verb == "get":
            return self._reply(call, 200, api.get(call))
        if verb == "list":
            return self._reply(call, 200, api.list(call))
        content_type = self.headers.get("Content-Type") or "application/json"
        if rt.group == REVIEW_GROUP:
            review = decode_body(body, content_type)
            answer = self.server.authorizer.review(user, review, self_review=rt.kind.startswith("Self"))
            return self._send(201, answer)
        if verb == "create":
            return self._reply(call, 201, api.create(call, decode_body(body, content_type)))
        if verb == "update":
            return self._reply(call, 200, api.update(call, decode_body(body, content_type)))
        if verb == "patch":
            code, obj = api.patch(call, body, content_type)
            return self._reply(call, code, obj)
        options = decode_body(body, content_type) if body.strip() else {}
        if not isinstance(options, dict):
            raise bad_request("the body of a delete must be DeleteOptions (a JSON object)")
        if verb == "delete":
            return self._reply(call, 200, api.delete(call, options))
        return self._reply(call, 200, api.deletecollection(call, options))

    def _verb(self, named: bool, query: dict[str, str]) -> str:
        method = self.command
        if method in ("GET", "HEAD"):
            if query.get("watch", "").lower() in ("1", "t", "true"):
                return "watch"
            return "get" if named else "list"
        if method == "POST" and not named:
            return "create"
        if method == "PUT" and named:
            return "update"
        if method == "PATCH" and named:
            return "patch"
        if method == "DELETE":
            return "delete" if named else "deletecollection"
        raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")

    def _reply(self, call: Call, code: int, obj: dict[str, Any]) -> None:
        if "as=Table" in (self.headers.get("Accept") or "") and obj.get("kind") != "Status":
            obj = printing.as_table(obj, call.rt)
        self._send(code, obj, warnings=call.warnings)

    def _watch(self, call: Call) -> None:
        events = self.server.api.watch(call)
        first = next(events, None)  # raises ApiError (e.g. bad resourceVersion) before headers go out
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if first is not None:
                self._chunk(first)
                for event in events:
                    self._chunk(event)
            self.wfile.write(b"0\r\n\r\n")
        finally:
            events.close()

    def _stream(self, chunks: Iterator[bytes]) -> None:
        """A log as it is read (``follow``: until the container stops or the client goes away)."""
        first = next(chunks, b"")  # errors (ApiError) surface before the headers go out
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for data in itertools.chain([first], chunks):
                if data:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- sandbox-only endpoints -----------------------------------------------------------------
    def _sandbox_admin(self, user: User, segments: list[str], body: bytes) -> None:
        if not user.is_admin:
            raise ApiError(403, "the sandbox endpoints are for the admin token only")
        what = "/".join(segments)
        server = self.server
        if what == "v1/counters":
            if self.command == "DELETE":
                server.counters.reset()
            return self._send(200, server.counters.snapshot())
        if what == "v1/faults":
            if self.command == "POST":
                server.faults.add(Fault.from_dict(decode_body(body)))
            elif self.command == "DELETE":
                server.faults.clear()
            return self._send(200, {"faults": server.faults.list()})
        if what == "v1/network" and server.mesh is not None:
            gateway = server.mesh.gateway
            return self._send(200, {"gateway": gateway, "metrics": f"{gateway}/metrics"})
        if what == "v1/simulator" and server.simulator is not None:
            if self.command == "PUT":
                server.simulator.settings.update(decode_body(body))
            return self._send(200, server.simulator.settings.as_dict())
        raise ApiError(
            404,
            f"no sandbox endpoint /sandbox/{what}; known: v1/counters, v1/faults, v1/simulator, "
            "v1/network (with --run-workloads)",
        )
