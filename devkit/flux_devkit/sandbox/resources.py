"""The resource table: which kinds the sandbox serves, under which group, version and plural.

Built-in kinds are listed here; a CustomResourceDefinition adds its kind to the same
table when it is created, so discovery, routing and RBAC see one list.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource (e.g. apps/v1 deployments) and what it supports."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    status: bool = False
    scale: bool = False
    has_generation: bool = True
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    returns_deleted: bool = False  # DELETE answers with the object instead of a Status
    logs: bool = False  # has the read-only "log" subresource (pods)
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    #: a CRD version's additionalPrinterColumns (empty: Name and Age, as the API server prints)
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` form used in Status messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps`` form used in validation messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def subresources(self) -> list[str]:
        return [
            name for name, on in (("status", self.status), ("scale", self.scale), ("log", self.logs)) if on
        ]


def _r(group: str, version: str, kind: str, plural: str, **kw: Any) -> ResourceType:
    return ResourceType(group, version, kind, plural, **kw)


ALL = ("all",)
BUILTIN: tuple[ResourceType, ...] = (
    _r(
        "",
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        short_names=("ns",),
        status=True,
        has_generation=False,
    ),
    _r("", "v1", "ConfigMap", "configmaps", short_names=("cm",), has_generation=False),
    _r("", "v1", "Secret", "secrets", has_generation=False),
    _r("", "v1", "Service", "services", short_names=("svc",), status=True, categories=ALL),
    _r(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        short_names=("sa",),
        has_generation=False,
        returns_deleted=True,
    ),
    _r(
        "",
        "v1",
        "Pod",
        "pods",
        short_names=("po",),
        status=True,
        categories=ALL,
        returns_deleted=True,
        logs=True,
    ),
    _r("", "v1", "Event", "events", short_names=("ev",), has_generation=False),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",), status=True),
    _r("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=("pv",), status=True),
    _r("", "v1", "Endpoints", "endpoints", short_names=("ep",), has_generation=False),
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", has_generation=False),
    _r("", "v1", "Node", "nodes", namespaced=False, short_names=("no",), status=True),
    _r(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        status=True,
        scale=True,
        categories=ALL,
    ),
    _r(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        status=True,
        scale=True,
        categories=ALL,
    ),
    _r(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short_names=("sts",),
        status=True,
        scale=True,
        categories=ALL,
    ),
    _r("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), status=True, categories=ALL),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions", has_generation=False),
    _r("batch", "v1", "Job", "jobs", status=True, categories=ALL),
    _r("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), status=True, categories=ALL),
    _r(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short_names=("hpa",),
        status=True,
    ),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",), status=True),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",), status=True),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", has_generation=False),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", has_generation=False),
    _r(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        namespaced=False,
        has_generation=False,
    ),
    _r(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        namespaced=False,
        has_generation=False,
    ),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short_names=("crd", "crds"),
        status=True,
    ),
    _r("coordination.k8s.io", "v1", "Lease", "leases", has_generation=False),
    _r(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        namespaced=False,
        has_generation=False,
        verbs=("create",),
    ),
    _r(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        namespaced=False,
        has_generation=False,
        verbs=("create",),
    ),
)
REVIEW_GROUP = "authorization.k8s.io"


class ResourceTable:
    """Thread-safe lookup of served resources by (group, version, plural) and by (apiVersion, kind)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        for rt in BUILTIN:
            self._add(rt)
        self.builtin_groups = {rt.group for rt in BUILTIN}

    def _add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._by_kind[(rt.api_version, rt.kind)] = rt

    def add_custom(self, types: list[ResourceType]) -> None:
        with self._lock:
            for rt in types:
                self._add(rt)

    def remove_custom(self, group: str, plural: str) -> None:
        with self._lock:
            for key, rt in list(self._by_path.items()):
                if rt.group == group and rt.plural == plural:
                    del self._by_path[key]
                    del self._by_kind[(rt.api_version, rt.kind)]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def find(self, group: str, plural: str) -> ResourceType | None:
        """Any served version of ``plural.group`` (objects are stored once, whatever the version)."""
        with self._lock:
            return next(
                (rt for rt in self._by_path.values() if rt.group == group and rt.plural == plural), None
            )

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._by_path.values())

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred (first declared) version first."""
        result: dict[str, list[str]] = {}
        for rt in self.all():
            versions = result.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return result
