"""What the API server itself fills in on create (the parts no controller does)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any


def on_create(group: str, kind: str, obj: dict[str, Any], *, cluster_ip: Callable[[], str]) -> None:
    """Fill server-assigned fields in place (Service clusterIP, Namespace phase, Secret type/data …)."""
    if (group, kind) == ("batch", "Job"):
        _job_selector(obj)
    if group != "":
        return
    if kind == "Namespace":
        obj["spec"] = {"finalizers": ["kubernetes"], **(obj.get("spec") or {})}
        obj["status"] = {"phase": "Active"}
        labels = obj["metadata"].setdefault("labels", {})
        labels.setdefault("kubernetes.io/metadata.name", obj["metadata"]["name"])
    elif kind == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
            spec["clusterIP"] = cluster_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj["status"] = {"loadBalancer": {}}
    elif kind == "Secret":
        obj["type"] = obj.get("type") or "Opaque"
    elif kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind == "PersistentVolumeClaim":
        obj["status"] = {"phase": "Pending"}


def _job_selector(job: dict[str, Any]) -> None:
    """The selector and Pod labels the API server generates for a Job (unless ``manualSelector``)."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") or not isinstance(spec.get("template"), dict):
        return
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    template = spec["template"].setdefault("metadata", {})
    if isinstance(template, dict):
        labels = template.setdefault("labels", {})
        for key, value in (("controller-uid", uid), ("job-name", name)):
            labels.setdefault(key, value)
            labels.setdefault(f"batch.kubernetes.io/{key}", value)


_SPEC_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("apps", "Deployment"): {
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    },
    ("apps", "StatefulSet"): {
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "podManagementPolicy": "OrderedReady",
    },
    ("apps", "ReplicaSet"): {"replicas": 1},
    ("batch", "Job"): {"backoffLimit": 6, "completions": 1, "parallelism": 1},
}


def on_write(group: str, kind: str, obj: dict[str, Any]) -> None:
    """Defaults the API server applies on every write, and Secret stringData folded into data."""
    for key, value in _SPEC_DEFAULTS.get((group, kind), {}).items():
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict) and key not in spec:
            spec[key] = json.loads(json.dumps(value))  # a fresh copy: stored objects never share it
    if group == "" and kind == "Secret" and "stringData" in obj:
        for key, value in (obj.pop("stringData") or {}).items():
            obj.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()
