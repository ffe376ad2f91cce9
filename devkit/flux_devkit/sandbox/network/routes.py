"""Where an HTTP request goes: cluster DNS names, Services, and the routing objects of canaries.

:class:`RouteTable` is an immutable snapshot of what routing reads (Services with their
ready endpoints from the Endpoints objects, Pods by address, Istio VirtualServices,
Gateway API HTTPRoutes, Ingresses); :func:`resolve` decides one request against it:

* a host that is an Ingress rule's host goes through the Ingress, and a canary Ingress
  for the same host and path (``nginx.ingress.kubernetes.io/canary``) takes requests by
  header, cookie or weight, as ingress-nginx does;
* a host an HTTPRoute lists in ``hostnames`` (or a Service an HTTPRoute attaches to as its
  parent) follows the route's first matching rule and its weighted ``backendRefs``;
* a Service name (``svc``, ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``) or its
  address is routed by a VirtualService for it (first matching ``http`` rule, weighted
  destinations), else goes to the Service itself;
* a Pod address goes to that Pod. Anything else is refused: the mesh is not an open proxy.

Patterns in matches are RE2 (as Envoy's), matched in full.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.patterns import regex
from flux_devkit.sandbox.store import Store

CLUSTER_DOMAIN = "svc.cluster.local"
NGINX = "nginx.ingress.kubernetes.io"
ROUTED_TYPES = {
    ("", "services"),
    ("", "endpoints"),
    ("", "pods"),
    ("networking.istio.io", "virtualservices"),
    ("gateway.networking.k8s.io", "httproutes"),
    ("networking.k8s.io", "ingresses"),
}
_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


@dataclass(frozen=True)
class PodInfo:
    """A Pod as telemetry names it: its workload (Deployment, Job …) and ``app``/``version`` labels."""

    namespace: str
    name: str
    workload: str
    app: str
    version: str


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    pod: PodInfo | None


@dataclass(frozen=True)
class ServiceInfo:
    namespace: str
    name: str
    cluster_ip: str
    ports: tuple[tuple[str, int], ...]  # (name, port)
    endpoints: Mapping[int, tuple[Endpoint, ...]]  # service port -> ready endpoints

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.{CLUSTER_DOMAIN}"

    def port_named(self, name: str) -> int | None:
        return next((port for port_name, port in self.ports if port_name == name), None)


@dataclass(frozen=True)
class Request:
    """What routing looks at; ``client_namespace`` is None for callers outside the cluster."""

    host: str
    port: int
    path: str
    method: str
    headers: Mapping[str, str]  # lower-case names
    client_namespace: str | None = None


@dataclass(frozen=True)
class Destination:
    """Where a request goes: an endpoint set (a Service port) or one Pod, and how it got there."""

    service: ServiceInfo | None
    port: int
    pod_ip: str = ""
    timeout: float | None = None
    ingress: tuple[str, str] | None = None  # (namespace, name) of the Ingress that served it
    canary: str = ""  # ingress-nginx's upstream name when a canary Ingress took the request


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


@dataclass(frozen=True)
class RouteTable:
    services: Mapping[tuple[str, str], ServiceInfo] = field(default_factory=dict)
    by_ip: Mapping[str, ServiceInfo] = field(default_factory=dict)
    pods: Mapping[str, PodInfo] = field(default_factory=dict)
    virtual_services: tuple[dict[str, Any], ...] = ()
    http_routes: tuple[dict[str, Any], ...] = ()
    ingresses: tuple[dict[str, Any], ...] = ()

    @classmethod
    def build(cls, store: Store) -> RouteTable:
        with store.lock:
            pods = store.list("", "pods")
            owners = {
                (o["metadata"]["namespace"], o["metadata"]["name"]): o
                for o in store.list("apps", "replicasets")
            }
            services = store.list("", "services")
            endpoints = {
                (e["metadata"]["namespace"], e["metadata"]["name"]): e for e in store.list("", "endpoints")
            }
            virtual_services = tuple(store.list("networking.istio.io", "virtualservices"))
            http_routes = tuple(store.list("gateway.networking.k8s.io", "httproutes"))
            ingresses = tuple(store.list("networking.k8s.io", "ingresses"))
        pod_infos = {
            p["status"]["podIP"]: _pod_info(p, owners) for p in pods if (p.get("status") or {}).get("podIP")
        }
        infos = [
            _service_info(s, endpoints.get((s["metadata"]["namespace"], s["metadata"]["name"])), pod_infos)
            for s in services
        ]
        return cls(
            services={(i.namespace, i.name): i for i in infos},
            by_ip={i.cluster_ip: i for i in infos if i.cluster_ip and i.cluster_ip != "None"},
            pods=pod_infos,
            virtual_services=virtual_services,
            http_routes=http_routes,
            ingresses=ingresses,
        )


def _pod_info(pod: dict[str, Any], replicasets: Mapping[tuple[str, str], dict[str, Any]]) -> PodInfo:
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    workload = meta["name"]
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet":
            owner = replicasets.get((meta["namespace"], ref.get("name", "")))
            parents = ((owner or {}).get("metadata") or {}).get("ownerReferences") or []
            workload = next(
                (r["name"] for r in parents if r.get("kind") == "Deployment"), ref.get("name", "")
            )
        elif ref.get("kind") in _WORKLOAD_KINDS:
            workload = ref.get("name", workload)
    app = labels.get("app.kubernetes.io/name") or labels.get("app") or workload
    version = labels.get("app.kubernetes.io/version") or labels.get("version") or "unknown"
    return PodInfo(meta["namespace"], meta["name"], workload, app, version)


def _service_info(
    service: dict[str, Any], endpoints: dict[str, Any] | None, pods: Mapping[str, PodInfo]
) -> ServiceInfo:
    meta, spec = service["metadata"], service.get("spec") or {}
    ports = tuple((str(p.get("name", "")), int(p.get("port", 0))) for p in spec.get("ports") or [])
    ready: dict[int, list[Endpoint]] = {port: [] for _, port in ports}
    for subset in (endpoints or {}).get("subsets") or []:
        by_name = {str(p.get("name", "")): int(p.get("port", 0)) for p in subset.get("ports") or []}
        for port_name, port in ports:
            target = by_name.get(port_name, by_name.get("") if len(ports) == 1 else None)
            if target is None:
                continue
            for address in subset.get("addresses") or []:
                ready[port].append(Endpoint(address["ip"], target, pods.get(address["ip"])))
    return ServiceInfo(
        meta["namespace"],
        meta["name"],
        str(spec.get("clusterIP", "")),
        ports,
        {port: tuple(found) for port, found in ready.items()},
    )


# -- matching -----------------------------------------------------------------------------------


class _BadPattern(FluxError):
    """A routing object's pattern does not compile (the rule then matches nothing)."""


def _full(pattern: str, text: str) -> bool:
    try:
        return bool(regex(pattern, error=_BadPattern).fullmatch(text))
    except _BadPattern:
        return False


def _string_match(rule: Mapping[str, Any], text: str | None) -> bool:
    """Istio's StringMatch: ``exact``, ``prefix`` or ``regex``."""
    if text is None:
        return False
    if "exact" in rule:
        return text == str(rule["exact"])
    if "prefix" in rule:
        return text.startswith(str(rule["prefix"]))
    if "regex" in rule:
        return _full(str(rule["regex"]), text)
    return True


def _path_matches(prefix: str, path: str, *, exact: bool) -> bool:
    """Exact, or a prefix by whole path elements (``/api`` matches ``/api/x``, not ``/apis``)."""
    if exact:
        return path == prefix
    stem = prefix.rstrip("/")
    return not stem or path == stem or path.startswith(stem + "/")


def _host_matches(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host.count(".") >= pattern.count(".")
    return pattern in ("*", host)


def _weighted(choices: list[tuple[Any, int]]) -> Any | None:
    total = sum(max(weight, 0) for _, weight in choices)
    if total <= 0:
        return None
    pick = random.uniform(0, total)
    for choice, weight in choices:
        pick -= max(weight, 0)
        if pick <= 0 and weight > 0:
            return choice
    return next(choice for choice, weight in reversed(choices) if weight > 0)


def _seconds(text: Any) -> float | None:
    """A route timeout (``10s``, ``500ms``, ``1m``) in seconds; None when unset or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * scale
            except ValueError:
                return None
    return None


# -- names --------------------------------------------------------------------------------------


def service_by_name(table: RouteTable, host: str, namespace: str | None) -> ServiceInfo | Refusal | None:
    """The Service a cluster DNS name means (None when the name is not a cluster name at all)."""
    labels = host.split(".")
    if len(labels) == 1:
        if namespace is not None:
            return table.services.get((namespace, host)) or Refusal(
                502, f'sandbox mesh: no Service "{host}" in namespace "{namespace}"'
            )
        found = [s for (_, name), s in table.services.items() if name == host]
        if len(found) == 1:
            return found[0]
        if not found:
            return Refusal(502, f'sandbox mesh: no Service named "{host}" in any namespace')
        where = ", ".join(sorted(f"{s.name}.{s.namespace}" for s in found))
        return Refusal(502, f'sandbox mesh: "{host}" is ambiguous outside the cluster; name one of {where}')
    if (
        len(labels) == 2
        or (len(labels) == 3 and labels[2] == "svc")
        or (len(labels) == 5 and ".".join(labels[2:]) == CLUSTER_DOMAIN)
    ):
        return table.services.get((labels[1], labels[0])) or Refusal(
            502,
            f'sandbox mesh: no Service "{labels[0]}" in namespace "{labels[1]}" (the mesh reaches this '
            "cluster's Services, Pods and routes only)",
        )
    return None


def _service_ref(table: RouteTable, host: str, namespace: str) -> ServiceInfo | None:
    """A routing object's host (short names are in the object's own namespace)."""
    found = service_by_name(table, host.lower().rstrip("."), namespace)
    return found if isinstance(found, ServiceInfo) else None


# -- the decision -------------------------------------------------------------------------------


def resolve(table: RouteTable, request: Request, *, mesh: bool = True) -> Destination | Refusal:
    """Route one request; ``mesh`` is False for the gateway that callers outside the cluster use."""
    host = request.host.lower().rstrip(".")
    if len(host) > 253 or not host:
        return Refusal(400, "sandbox mesh: the request names no valid host")
    try:
        ip_address(host)
        literal = True
    except ValueError:
        literal = False
    if literal:
        service = table.by_ip.get(host)
        if service is not None:
            return _to_service(table, service, request, mesh)
        if host in table.pods:
            return Destination(None, request.port, pod_ip=host)
        return Refusal(502, f"sandbox mesh: {host} is not the address of a Service or Pod of this cluster")
    via_ingress = _ingress(table, host, request)
    if via_ingress is not None:
        return via_ingress
    via_route = _http_route(table, request, hostname=host)
    if via_route is not None:
        return via_route
    found = service_by_name(table, host, request.client_namespace)
    if found is None:
        return Refusal(502, f"sandbox mesh: {host} is not a Service, route or Ingress host of this cluster")
    if isinstance(found, Refusal):
        return found
    return _to_service(table, found, request, mesh)


def _to_service(
    table: RouteTable, service: ServiceInfo, request: Request, mesh: bool
) -> Destination | Refusal:
    routed = _virtual_service(table, service, request, mesh)
    if routed is not None:
        return routed
    routed = _http_route(table, request, parent=service)
    if routed is not None:
        return routed
    if request.port not in dict((port, name) for name, port in service.ports):
        return Refusal(
            502, f"sandbox mesh: Service {service.namespace}/{service.name} has no port {request.port}"
        )
    return Destination(service, request.port)


def _virtual_service(
    table: RouteTable, service: ServiceInfo, request: Request, mesh: bool
) -> Destination | Refusal | None:
    for vs in table.virtual_services:
        namespace = vs["metadata"]["namespace"]
        spec = vs.get("spec") or {}
        gateways = spec.get("gateways") or ["mesh"]
        if mesh and "mesh" not in gateways:
            continue
        hosts = [str(h) for h in spec.get("hosts") or []]
        if not any(h == "*" or _service_ref(table, h, namespace) is service for h in hosts):
            continue
        for rule in spec.get("http") or []:
            if not _istio_match(rule.get("match"), request):
                continue
            choices = []
            for route in rule.get("route") or []:
                target = route.get("destination") or {}
                dest = _service_ref(table, str(target.get("host", "")), namespace)
                port = int((target.get("port") or {}).get("number") or request.port)
                choices.append(
                    ((dest, port), int(route.get("weight", 100 if len(rule["route"]) == 1 else 0)))
                )
            picked = _weighted(choices)
            if picked is None or picked[0] is None:
                return Refusal(
                    503,
                    f"sandbox mesh: VirtualService {namespace}/{vs['metadata']['name']} routes "
                    "this request to no Service (all weights 0 or unknown hosts)",
                )
            return Destination(picked[0], picked[1], timeout=_seconds(rule.get("timeout")))
        return Refusal(
            404,
            f"sandbox mesh: no http rule of VirtualService {namespace}/{vs['metadata']['name']} "
            "matches this request",
        )
    return None


def _istio_match(matches: Any, request: Request) -> bool:
    if not matches:
        return True
    for match in matches:
        if "uri" in match and not _string_match(match["uri"], request.path.split("?")[0]):
            continue
        if "method" in match and not _string_match(match["method"], request.method):
            continue
        if "authority" in match and not _string_match(match["authority"], request.host):
            continue
        headers = match.get("headers") or {}
        if all(_string_match(rule, request.headers.get(name.lower())) for name, rule in headers.items()):
            return True
    return False


def _http_route(
    table: RouteTable, request: Request, *, hostname: str = "", parent: ServiceInfo | None = None
) -> Destination | Refusal | None:
    for route in table.http_routes:
        namespace = route["metadata"]["namespace"]
        spec = route.get("spec") or {}
        if parent is not None:
            attached = any(
                ref.get("kind") == "Service"
                and ref.get("name") == parent.name
                and (ref.get("namespace") or namespace) == parent.namespace
                for ref in spec.get("parentRefs") or []
            )
            if not attached:
                continue
        elif not any(_host_matches(str(h), hostname) for h in spec.get("hostnames") or []):
            continue
        for rule in spec.get("rules") or [{}]:
            if not _gateway_match(rule.get("matches"), request):
                continue
            choices = []
            for ref in rule.get("backendRefs") or []:
                if ref.get("kind", "Service") != "Service":
                    continue
                dest = table.services.get((ref.get("namespace") or namespace, str(ref.get("name", ""))))
                choices.append(((dest, int(ref.get("port") or request.port)), int(ref.get("weight", 1))))
            picked = _weighted(choices)
            if picked is None or picked[0] is None:
                return Refusal(
                    503,
                    f"sandbox mesh: HTTPRoute {namespace}/{route['metadata']['name']} has no "
                    "backend with weight for this request",
                )
            timeout = _seconds((rule.get("timeouts") or {}).get("request"))
            return Destination(picked[0], picked[1], timeout=timeout)
        return Refusal(
            404,
            f"sandbox mesh: no rule of HTTPRoute {namespace}/{route['metadata']['name']} "
            "matches this request",
        )
    return None


def _gateway_match(matches: Any, request: Request) -> bool:
    if not matches:
        return True
    path = request.path.split("?")[0]
    for match in matches:
        wanted = match.get("path") or {"type": "PathPrefix", "value": "/"}
        kind, value = wanted.get("type", "PathPrefix"), str(wanted.get("value", "/"))
        if kind == "RegularExpression":
            if not _full(value, path):
                continue
        elif not _path_matches(value, path, exact=kind == "Exact"):
            continue
        if match.get("method") and match["method"] != request.method:
            continue
        headers_ok = True
        for header in match.get("headers") or []:
            got = request.headers.get(str(header.get("name", "")).lower())
            if header.get("type") == "RegularExpression":
                headers_ok = headers_ok and got is not None and _full(str(header.get("value", "")), got)
            else:
                headers_ok = headers_ok and got == str(header.get("value", ""))
        if headers_ok:
            return True
    return False


def _ingress(table: RouteTable, host: str, request: Request) -> Destination | Refusal | None:
    """ingress-nginx: the main Ingress for host and path, then a canary Ingress that may take the request."""
    main = _ingress_backend(table, host, request.path, canary=False)
    if main is None:
        return None
    ingress, service, port = main
    canary = _ingress_backend(table, host, request.path, canary=True)
    if canary is not None and _canary_takes(canary[0], request):
        _, canary_service, canary_port = canary
        if canary_service is not None:
            upstream = f"{canary_service.namespace}-{canary_service.name}-{canary_port}"
            return Destination(canary_service, canary_port, ingress=_key(ingress), canary=upstream)
    if service is None:
        return Refusal(503, f"sandbox ingress: the backend Service of Ingress {_key(ingress)} does not exist")
    return Destination(service, port, ingress=_key(ingress))


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


def _ingress_backend(
    table: RouteTable, host: str, path: str, *, canary: bool
) -> tuple[dict[str, Any], ServiceInfo | None, int] | None:
    best: tuple[int, dict[str, Any], ServiceInfo | None, int] | None = None
    path = path.split("?")[0]
    for ingress in table.ingresses:
        annotations = ingress["metadata"].get("annotations") or {}
        if (annotations.get(f"{NGINX}/canary") == "true") != canary:
            continue
        namespace = ingress["metadata"]["namespace"]
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            if not rule.get("host") or not _host_matches(str(rule["host"]), host):
                continue
            for entry in (rule.get("http") or {}).get("paths") or []:
                prefix = str(entry.get("path") or "/")
                if not _path_matches(prefix, path, exact=entry.get("pathType") == "Exact"):
                    continue
                backend = (entry.get("backend") or {}).get("service") or {}
                service = table.services.get((namespace, str(backend.get("name", ""))))
                port_ref = backend.get("port") or {}
                port = (
                    int(port_ref.get("number") or 0)
                    or (service.port_named(str(port_ref.get("name"))) if service else 0)
                    or 80
                )
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), ingress, service, port)
    return None if best is None else best[1:]


def _canary_takes(ingress: dict[str, Any], request: Request) -> bool:
    annotations = ingress["metadata"].get("annotations") or {}
    header = annotations.get(f"{NGINX}/canary-by-header")
    if header:
        value = request.headers.get(header.lower())
        wanted = annotations.get(f"{NGINX}/canary-by-header-value")
        pattern = annotations.get(f"{NGINX}/canary-by-header-pattern")
        if wanted is not None:
            if value == wanted:
                return True
        elif pattern is not None:
            if value is not None and _full(pattern, value):
                return True
        elif value in ("always", "never"):
            return value == "always"
    cookie = annotations.get(f"{NGINX}/canary-by-cookie")
    if cookie:
        cookies = dict(
            part.strip().split("=", 1) for part in request.headers.get("cookie", "").split(";") if "=" in part
        )
        if cookies.get(cookie) in ("always", "never"):
            return cookies[cookie] == "always"
    try:
        weight = int(annotations.get(f"{NGINX}/canary-weight", "0"))
        total = int(annotations.get(f"{NGINX}/canary-weight-total", "100"))
    except ValueError:
        return False
    return total > 0 and random.uniform(0, total) < weight
