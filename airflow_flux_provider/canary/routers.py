"""Traffic routers: each writes the object its mesh or ingress controller reads.

* ``kubernetes``: no L7 object; the apex Service selects the primary, so weights are
  implied (100/0 before the blue/green switch, 0/100 after, derived from iterations);
* ``gatewayapi``: HTTPRoute ``<svc>`` with weighted ``backendRefs`` to ``<svc>-primary``/``-canary``;
* ``nginx``: ``<ingress>-canary``, a clone of ``ingressRef`` pointing at ``<svc>-canary``
  with ``nginx.ingress.kubernetes.io/canary`` + ``canary-weight`` annotations;
* ``istio``: DestinationRules ``<svc>-primary``/``-canary`` and VirtualService ``<svc>``.

The router, not the status, is the source of truth for weights: each tick reads them back.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from airflow_flux_provider.canary.errors import CanaryError
from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey
from airflow_flux_provider.specs.flagger import Canary

NGINX_PREFIX = "nginx.ingress.kubernetes.io"


class Router(Protocol):
    def reconcile(self) -> None:
        """Create the routing objects (all traffic on the primary) when they are missing."""

    def set_routes(self, primary: int, canary: int) -> None: ...

    def get_routes(self) -> tuple[int, int]: ...


def ab_matches(canary: Canary) -> list[dict[str, Any]]:
    """A/B request matches: ``analysis.match`` merged into each ``service.match`` (empty: not A/B)."""
    analysis = canary.spec.analysis
    if analysis is None or analysis.strategy != "ab-testing":
        return []
    service = canary.spec.service.match
    if not service:
        return list(analysis.match)
    return [{**base, **extra} for extra in analysis.match for base in service]


class _ObjectRouter:
    """Shared plumbing: names, apply with clear errors, read back."""

    def __init__(self, cluster: Cluster, canary: Canary) -> None:
        self.cluster = cluster
        self.canary = canary
        self.namespace = canary.metadata.namespace or "default"
        self.service = canary.spec.service.name or canary.spec.target_ref.name

    def _apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.cluster.apply(obj, force=True)
        except KubeError as err:
            raise CanaryError(
                f"cannot write {ObjectKey.of(obj)}: {err.message}; is the CRD for {obj['kind']} installed?",
                obj=self.canary.ref,
                field="spec.provider",
            ) from None

    def _get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return self.cluster.get(ObjectKey(api_version, kind, self.namespace, name))
        except KubeError as err:
            raise CanaryError(
                f"cannot read {kind}/{self.namespace}/{name}: {err.message}", obj=self.canary.ref
            ) from None

    def _meta(self, name: str) -> dict[str, Any]:
        apex = self.canary.spec.service.apex
        meta: dict[str, Any] = {"name": name, "namespace": self.namespace}
        if apex:
            meta["labels"], meta["annotations"] = dict(apex.labels), dict(apex.annotations)
        return meta


class KubernetesRouter:
    """L4 only: traffic follows the apex Service, which always selects the primary pods."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def reconcile(self) -> None:
        return None

    def set_routes(self, primary: int, canary: int) -> None:
        return None

    def get_routes(self) -> tuple[int, int]:
        return (100, 0) if self.iterations == 0 else (0, 100)


class GatewayAPIRouter(_ObjectRouter):
    API_VERSION = "gateway.networking.k8s.io/v1"

    def __init__(self, cluster: Cluster, canary: Canary) -> None:
        super().__init__(cluster, canary)
        if not canary.spec.service.gateway_refs:
            raise CanaryError(
                "the gatewayapi provider needs service.gatewayRefs (the Gateways the HTTPRoute attaches to)",
                obj=canary.ref,
                field="spec.service.gatewayRefs",
            )

    def _route(self, primary: int, canary: int) -> dict[str, Any]:
        svc = self.canary.spec.service
        rule: dict[str, Any] = {
            "matches": svc.match or [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [
                {
                    "group": "",
                    "kind": "Service",
                    "name": f"{self.service}-primary",
                    "port": svc.port,
                    "weight": primary,
                },
                {
                    "group": "",
                    "kind": "Service",
                    "name": f"{self.service}-canary",
                    "port": svc.port,
                    "weight": canary,
                },
            ],
        }
        if svc.timeout:
            rule["timeouts"] = {"request": svc.timeout}
        rules = [rule]
        if ab_matches(self.canary):  # matching requests split P/C, the rest stays on the primary
            default = {**rule, "backendRefs": [{**rule["backendRefs"][0], "weight": 100}]}
            rules = [{**rule, "matches": ab_matches(self.canary)}, default]
        spec: dict[str, Any] = {"parentRefs": list(svc.gateway_refs), "rules": rules}
        if svc.hosts:
            spec["hostnames"] = list(svc.hosts)
        return {
            "apiVersion": self.API_VERSION,
            "kind": "HTTPRoute",
            "metadata": self._meta(self.service),
            "spec": spec,
        }

    def reconcile(self) -> None:
        if self._get(self.API_VERSION, "HTTPRoute", self.service) is None:
            self.set_routes(100, 0)

    def set_routes(self, primary: int, canary: int) -> None:
        self._apply(self._route(primary, canary))

    def get_routes(self) -> tuple[int, int]:
        route = self._get(self.API_VERSION, "HTTPRoute", self.service)
        weights = {f"{self.service}-primary": 100, f"{self.service}-canary": 0}
        for rule in (route or {}).get("spec", {}).get("rules", [])[:1]:
            for ref in rule.get("backendRefs", []):
                weights[ref["name"]] = int(ref.get("weight", 1))
        return weights[f"{self.service}-primary"], weights[f"{self.service}-canary"]


class NginxRouter(_ObjectRouter):
    def __init__(self, cluster: Cluster, canary: Canary) -> None:
        super().__init__(cluster, canary)
        if canary.spec.ingress_ref is None:
            raise CanaryError(
                "the nginx provider needs ingressRef (the Ingress that serves the apex Service)",
                obj=canary.ref,
                field="spec.ingressRef",
            )
        self.ingress = canary.spec.ingress_ref.name
        self.canary_ingress = f"{self.ingress}-canary"

    def _canary_ingress(self, weight: int) -> dict[str, Any]:
        source = self._get("networking.k8s.io/v1", "Ingress", self.ingress)
        if source is None:
            raise CanaryError(
                f"Ingress/{self.namespace}/{self.ingress} not found; apply it before the Canary",
                obj=self.canary.ref,
                field="spec.ingressRef.name",
            )
        spec = copy.deepcopy(source.get("spec") or {})
        for rule in spec.get("rules", []):
            for path in (rule.get("http") or {}).get("paths", []):
                backend = (path.get("backend") or {}).get("service") or {}
                if backend.get("name") == self.service:
                    backend["name"] = f"{self.service}-canary"
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": self.canary_ingress,
                "namespace": self.namespace,
                "annotations": {f"{NGINX_PREFIX}/canary": "true", **self._routing(weight)},
            },
            "spec": spec,
        }

    def _routing(self, weight: int) -> dict[str, str]:
        """Weight annotation, or (A/B with traffic on) header/cookie annotations from ``analysis.match``."""
        matches = ab_matches(self.canary)
        if not matches or weight == 0:
            return {f"{NGINX_PREFIX}/canary-weight": str(weight)}
        routing: dict[str, str] = {}
        for name, rule in (matches[0].get("headers") or {}).items():
            if name == "cookie" and "exact" in rule:
                routing[f"{NGINX_PREFIX}/canary-by-cookie"] = rule["exact"]
            elif "exact" in rule:
                routing[f"{NGINX_PREFIX}/canary-by-header"] = name
                routing[f"{NGINX_PREFIX}/canary-by-header-value"] = rule["exact"]
            elif "regex" in rule:
                routing[f"{NGINX_PREFIX}/canary-by-header"] = name
                routing[f"{NGINX_PREFIX}/canary-by-header-pattern"] = rule["regex"]
        if not routing:
            raise CanaryError(
                "the nginx provider routes A/B tests by one header (exact or regex) or cookie; "
                f"analysis.match[0] has neither: {matches[0]}",
                obj=self.canary.ref,
                field="spec.analysis.match",
            )
        return routing

    def reconcile(self) -> None:
        if self._get("networking.k8s.io/v1", "Ingress", self.canary_ingress) is None:
            self.set_routes(100, 0)

    def set_routes(self, primary: int, canary: int) -> None:
        self._apply(self._canary_ingress(canary))

    def get_routes(self) -> tuple[int, int]:
        ingress = self._get("networking.k8s.io/v1", "Ingress", self.canary_ingress) or {}
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        if any(k.startswith(f"{NGINX_PREFIX}/canary-by-") for k in annotations):
            return 0, 100
        weight = int(annotations.get(f"{NGINX_PREFIX}/canary-weight", "0"))
        return 100 - weight, weight


class IstioRouter(_ObjectRouter):
    API_VERSION = "networking.istio.io/v1beta1"

    def _destination_rule(self, suffix: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"host": f"{self.service}{suffix}"}
        if self.canary.spec.service.traffic_policy:
            spec["trafficPolicy"] = self.canary.spec.service.traffic_policy
        meta = {"name": f"{self.service}{suffix}", "namespace": self.namespace}
        return {"apiVersion": self.API_VERSION, "kind": "DestinationRule", "metadata": meta, "spec": spec}

    def _virtual_service(self, primary: int, canary: int) -> dict[str, Any]:
        svc = self.canary.spec.service
        hosts = list(svc.hosts)
        if self.service not in hosts and "*" not in hosts:
            hosts.append(self.service)
        http: dict[str, Any] = {
            "route": [
                {"destination": {"host": f"{self.service}-primary"}, "weight": primary},
                {"destination": {"host": f"{self.service}-canary"}, "weight": canary},
            ]
        }
        options = {
            "match": svc.match,
            "rewrite": svc.rewrite,
            "timeout": svc.timeout,
            "retries": svc.retries,
            "corsPolicy": svc.cors_policy,
            "headers": svc.headers,
        }
        for key, value in options.items():
            if value:
                http[key] = value
        routes = [http]
        if ab_matches(self.canary):  # matching requests split P/C, the rest stays on the primary
            default = {**http, "route": [{"destination": {"host": f"{self.service}-primary"}, "weight": 100}]}
            routes = [{**http, "match": ab_matches(self.canary)}, default]
        spec = {"hosts": hosts, "gateways": list(svc.gateways) or ["mesh"], "http": routes}
        return {
            "apiVersion": self.API_VERSION,
            "kind": "VirtualService",
            "metadata": self._meta(self.service),
            "spec": spec,
        }

    def reconcile(self) -> None:
        for suffix in ("-primary", "-canary"):
            self._apply(self._destination_rule(suffix))
        if self._get(self.API_VERSION, "VirtualService", self.service) is None:
            self.set_routes(100, 0)

    def set_routes(self, primary: int, canary: int) -> None:
        self._apply(self._virtual_service(primary, canary))

    def get_routes(self) -> tuple[int, int]:
        vs = self._get(self.API_VERSION, "VirtualService", self.service) or {}
        weights = {f"{self.service}-primary": 100, f"{self.service}-canary": 0}
        for http in (vs.get("spec") or {}).get("http", [])[:1]:
            for route in http.get("route", []):
                weights[route["destination"]["host"]] = int(route.get("weight", 0))
        return weights[f"{self.service}-primary"], weights[f"{self.service}-canary"]


def router_for(cluster: Cluster, canary: Canary, iterations: int) -> Router:
    """The router of ``spec.provider`` (default ``istio``, as Flagger's default mesh)."""
    provider = canary.spec.provider or "istio"
    if provider == "kubernetes":
        return KubernetesRouter(iterations)
    if provider.startswith("gatewayapi"):
        return GatewayAPIRouter(cluster, canary)
    if provider == "nginx":
        return NginxRouter(cluster, canary)
    if provider == "istio":
        return IstioRouter(cluster, canary)
    raise CanaryError(
        f"provider {provider} has no router here yet; use kubernetes, gatewayapi:v1, nginx or istio",
        obj=canary.ref,
        field="spec.provider",
    )
