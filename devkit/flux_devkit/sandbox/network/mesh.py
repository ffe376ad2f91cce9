"""The sandbox's network: listeners on one asyncio loop, kept in step with the cluster's objects.

:class:`Mesh` owns the event loop thread, the gateway, the sidecars of running Pods and
the Service proxies; it is the kubelet's :class:`~flux_devkit.sandbox.kubelet.kubelet.PodNetwork`
(a Pod's ``HTTP_PROXY`` is its sidecar). :class:`RouteWatcher` rebuilds the route table when
Services, Endpoints, Pods or routing objects change, and opens or closes Service listeners.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from flux_devkit.sandbox.controller import Key, StoreController
from flux_devkit.sandbox.network.addresses import AddressPool
from flux_devkit.sandbox.network.proxy import MAX_HEAD, SIDECAR_PORT, HttpProxy, ServiceProxy, UpstreamPool
from flux_devkit.sandbox.network.routes import ROUTED_TYPES, RouteTable
from flux_devkit.sandbox.network.telemetry import Telemetry
from flux_devkit.sandbox.status import SandboxError
from flux_devkit.sandbox.store import Event, Store

log = logging.getLogger(__name__)

NO_INJECT = "sidecar.istio.io/inject"
NO_PROXY = "localhost,127.0.0.1"
REBUILD_DELAY = 0.05  # coalesce bursts of events (a rollout writes many statuses) into one rebuild


class Mesh:
    def __init__(self, store: Store, services: AddressPool, *, port: int = 0) -> None:
        self.store = store
        self.services = services
        self.telemetry = Telemetry()
        self.table = RouteTable()
        self._pool = UpstreamPool()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox-mesh", daemon=True)
        self._sidecars: dict[str, asyncio.AbstractServer] = {}
        self._service_listeners: dict[tuple[str, int], tuple[tuple[str, str], asyncio.AbstractServer]] = {}
        self._requested_port = port
        self._gateway: asyncio.AbstractServer | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        gateway = HttpProxy(lambda: self.table, self.telemetry, self._pool)
        try:
            server = self._run(
                asyncio.start_server(gateway.serve, "127.0.0.1", self._requested_port, limit=MAX_HEAD)
            )
        except OSError as err:
            raise SandboxError(
                f"cannot listen on 127.0.0.1:{self._requested_port} for the mesh gateway: {err.strerror}",
                obj="sandbox/mesh",
            ) from None
        self._gateway = server
        self.port = server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close_all() -> None:
            for server in self._all_servers():
                server.close()
            self._pool.close()
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:  # connections still open
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            self._run(close_all())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def _all_servers(self) -> list[asyncio.AbstractServer]:
        servers = [*self._sidecars.values(), *(server for _, server in self._service_listeners.values())]
        return [*servers, *([self._gateway] if self._gateway else [])]

    def _run(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=30)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the kubelet's PodNetwork ---------------------------------------------------------------
    def pod_env(self, pod: dict[str, Any], ip: str) -> dict[str, str]:
        """Outbound HTTP of the Pod goes through its sidecar, unless the Pod opts out as with Istio."""
        if (pod["metadata"].get("annotations") or {}).get(NO_INJECT) == "false":
            return {}
        proxy = f"http://{ip}:{SIDECAR_PORT}"
        return {"HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY}

    def attach(self, pod: dict[str, Any], ip: str) -> None:
        sidecar = HttpProxy(lambda: self.table, self.telemetry, self._pool, source_ip=ip)

        async def listen() -> None:
            self._sidecars[ip] = await asyncio.start_server(sidecar.serve, ip, SIDECAR_PORT, limit=MAX_HEAD)

        try:
            self._run(listen())
        except OSError as err:
            log.warning("no sidecar for Pod %s at %s: %s", pod["metadata"]["name"], ip, err.strerror)

    def detach(self, ip: str) -> None:
        async def close() -> None:
            server = self._sidecars.pop(ip, None)
            if server is not None:
                server.close()

        self._run(close())

    # -- Services -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """A new route table, and a TCP listener for every port of every Service with an address."""
        self.table = RouteTable.build(self.store)
        wanted = {
            (info.cluster_ip, port): (info.namespace, info.name)
            for info in self.table.services.values()
            if info.cluster_ip in self.services
            for _, port in info.ports
        }
        self._run(self._sync_services(wanted))

    async def _sync_services(self, wanted: dict[tuple[str, int], tuple[str, str]]) -> None:
        for address, (owner, server) in list(self._service_listeners.items()):
            if wanted.get(address) != owner:
                server.close()
                del self._service_listeners[address]
        for (ip, port), owner in wanted.items():
            if (ip, port) in self._service_listeners:
                continue
            proxy = ServiceProxy(lambda: self.table, owner[0], owner[1], port)
            try:
                server = await asyncio.start_server(proxy.serve, ip, port)
            except OSError as err:
                log.warning("no listener for Service %s/%s at %s:%d: %s", *owner, ip, port, err.strerror)
                continue
            self._service_listeners[(ip, port)] = (owner, server)


class RouteWatcher(StoreController):
    """Rebuilds the mesh's route table when anything routing reads changes."""

    name = "routes"
    KEY: Key = ("", "mesh", "", "routes")

    def __init__(self, store: Store, mesh: Mesh) -> None:
        super().__init__(store)
        self.mesh = mesh

    def keys_for(self, event: Event) -> Iterable[tuple[Key, float]]:
        if (event.group, event.plural) in ROUTED_TYPES:
            yield self.KEY, REBUILD_DELAY

    def all_keys(self) -> Iterable[Key]:
        yield self.KEY

    def reconcile(self, key: Key) -> None:
        self.mesh.refresh()
