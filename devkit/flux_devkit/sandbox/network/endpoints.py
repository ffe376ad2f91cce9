"""Endpoints and EndpointSlices kept current, as the endpoints controllers keep them.

For every Service with a selector, the Pods it selects that have an address are listed:
ready ones as ``addresses`` (EndpointSlice ``ready: true``), the others as
``notReadyAddresses``; a named ``targetPort`` is looked up among each Pod's container
ports, so Pods that name it differently land in different subsets, as in Kubernetes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from flux_devkit.sandbox.controller import Key, StoreController
from flux_devkit.sandbox.rollouts import pod_finished, pod_ready
from flux_devkit.sandbox.selectors import label_selector
from flux_devkit.sandbox.store import Event
from flux_devkit.sandbox.verbs import Call, ResourceApi

MANAGER = "endpoint-controller"
SLICE_MANAGER = "endpointslice-controller.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"


def _target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared.get("containerPort", 0))
    return None


def selected_pods(service: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    matches = label_selector(",".join(f"{k}={v}" for k, v in sorted(selector.items())))
    return [
        p
        for p in pods
        if matches(p)
        and (p.get("status") or {}).get("podIP")
        and not pod_finished(p)
        and not p["metadata"].get("deletionTimestamp")
    ]


def _ports(service: dict[str, Any], pod: dict[str, Any]) -> tuple[tuple[str, int, str], ...] | None:
    found = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = _target_port(port, pod)
        if number is None:
            return None  # a named port the Pod does not declare: the Pod serves nothing here
        found.append((str(port.get("name", "")), number, str(port.get("protocol", "TCP"))))
    return tuple(found)


def endpoints_subsets(service: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``Endpoints.subsets``: Pods grouped by how their ports resolve, sorted by address."""
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    for pod in sorted(selected_pods(service, pods), key=lambda p: p["status"]["podIP"]):
        ports = _ports(service, pod)
        if ports is None:
            continue
        address = {
            "ip": pod["status"]["podIP"],
            "nodeName": "sandbox",
            "targetRef": {
                "kind": "Pod",
                "namespace": pod["metadata"]["namespace"],
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        }
        group = groups.setdefault(ports, {"addresses": [], "notReadyAddresses": []})
        group["addresses" if pod_ready(pod) else "notReadyAddresses"].append(address)
    subsets = []
    for ports, group in groups.items():
        subset: dict[str, Any] = {k: v for k, v in group.items() if v}
        subset["ports"] = [
            {**({"name": name} if name else {}), "port": number, "protocol": protocol}
            for name, number, protocol in ports
        ]
        subsets.append(subset)
    return subsets


class EndpointsController(StoreController):
    """Writes ``Endpoints/<svc>`` and ``EndpointSlice/<svc>-<hash>`` for every Service with a selector."""

    name = "endpoints"

    def __init__(self, api: ResourceApi) -> None:
        super().__init__(api.store)
        self.api = api

    def keys_for(self, event: Event) -> Iterable[tuple[Key, float]]:
        namespace = event.namespace
        if (event.group, event.plural) == ("", "services"):
            yield ("", "services", namespace, event.obj["metadata"]["name"]), 0.0
        elif (event.group, event.plural) == ("", "pods"):
            for service in self.store.list("", "services", namespace):
                yield ("", "services", namespace, service["metadata"]["name"]), 0.0

    def all_keys(self) -> Iterable[Key]:
        for service in self.store.list("", "services"):
            yield "", "services", service["metadata"]["namespace"], service["metadata"]["name"]

    def reconcile(self, key: Key) -> None:
        _, _, namespace, name = key
        with self.store.lock:
            service = self.store.get("", "services", namespace, name)
            selector = ((service or {}).get("spec") or {}).get("selector")
            if service is None or not selector:
                if service is None:  # the Service went: so do its Endpoints (slices follow their owner)
                    self._delete("endpoints", namespace, name)
                return
            subsets = endpoints_subsets(service, self.store.list("", "pods", namespace))
            endpoints: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace}}
            if service["metadata"].get("labels"):
                endpoints["metadata"]["labels"] = dict(service["metadata"]["labels"])
            self._write("endpoints", {**endpoints, **({"subsets": subsets} if subsets else {})}, MANAGER)
            self._write("endpointslices", self._slice(service, subsets), SLICE_MANAGER)

    def _slice(self, service: dict[str, Any], subsets: list[dict[str, Any]]) -> dict[str, Any]:
        meta = service["metadata"]
        suffix = hashlib.sha256(meta["uid"].encode()).hexdigest()[:5]
        endpoints = [
            {
                "addresses": [address["ip"]],
                "conditions": {"ready": ready, "serving": ready, "terminating": False},
                "nodeName": "sandbox",
                "targetRef": address["targetRef"],
            }
            for subset in subsets
            for ready, key in ((True, "addresses"), (False, "notReadyAddresses"))
            for address in subset.get(key) or []
        ]
        ports = subsets[0]["ports"] if subsets else []
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "namespace": meta["namespace"],
                "labels": {
                    **(meta.get("labels") or {}),
                    SERVICE_NAME: meta["name"],
                    "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER,
                },
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        }

    def _write(self, plural: str, desired: dict[str, Any], manager: str) -> None:
        group = "discovery.k8s.io" if plural == "endpointslices" else ""
        rt = self.api.table.find(group, plural)
        assert rt is not None
        meta = desired["metadata"]
        current = self.store.get(group, plural, meta["namespace"], meta["name"])
        if current is None:
            self.api.create(Call(rt, meta["namespace"], "", "", {}, manager), desired)
            return
        updated = {
            "apiVersion": current["apiVersion"],
            "kind": current["kind"],
            "metadata": {k: v for k, v in current["metadata"].items() if k != "labels"},
            **{k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")},
        }
        if meta.get("labels"):
            updated["metadata"]["labels"] = dict(meta["labels"])
        if updated != current:
            self.api.update(Call(rt, meta["namespace"], meta["name"], "", {}, manager), updated)

    def _delete(self, plural: str, namespace: str, name: str) -> None:
        rt = self.api.table.find("", plural)
        assert rt is not None
        if self.store.get("", plural, namespace, name) is not None:
            self.api.delete(Call(rt, namespace, name, "", {}, MANAGER), {})
