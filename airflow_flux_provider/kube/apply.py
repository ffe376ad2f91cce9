"""Staged server-side apply with drift detection, as Flux's kustomize-controller applies.

Order: cluster definitions (CRDs, Namespaces, ClusterRoles) first and waited for, then
``*Class`` kinds, then everything else; within a stage objects are sorted by Flux's
kind order. Each object is dry-run applied first and only written when the dry-run
result differs from the live object, so a no-op reconcile makes zero mutating requests.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_flux_provider.kube import kstatus
from airflow_flux_provider.kube.cluster import (
    Cluster,
    ConflictError,
    InvalidObjectError,
    KubeError,
    ObjectKey,
)

FORCE_ANNOTATION = "kustomize.toolkit.fluxcd.io/force"
SSA_ANNOTATION = "kustomize.toolkit.fluxcd.io/ssa"

_FIRST = [
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
]
_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
_IMMUTABLE = re.compile(r"is\simmutable|immutable\sfield|field is immutable", re.IGNORECASE)
_STRIPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Change:
    key: ObjectKey
    action: Action

    def __str__(self) -> str:
        return f"{self.key} {self.action}"


@dataclass
class ChangeSet:
    changes: list[Change] = field(default_factory=list)

    def add(self, key: ObjectKey, action: Action) -> None:
        self.changes.append(Change(key, action))

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def keys(self) -> list[ObjectKey]:
        return [c.key for c in self.changes]

    @property
    def has_changes(self) -> bool:
        return any(c.action not in (Action.UNCHANGED, Action.SKIPPED) for c in self.changes)

    def summary(self) -> str:
        return "\n".join(str(c) for c in self.changes if c.action not in (Action.UNCHANGED, Action.SKIPPED))

    def to_xcom(self) -> list[dict[str, str]]:
        return [{"object": str(c.key), "action": c.action.value} for c in self.changes]


class ApplyError(KubeError):
    """An object could not be applied; ``changes`` lists what was applied before it."""

    def __init__(self, message: str, *, changes: ChangeSet) -> None:
        done = changes.summary()
        super().__init__(message + (f"\nchanges applied before the failure:\n{done}" if done else ""))
        self.changes = changes


def kind_rank(kind: str) -> int:
    if kind in _FIRST:
        return _FIRST.index(kind)
    if kind in _LAST:
        return len(_FIRST) + 1 + _LAST.index(kind)
    return len(_FIRST)


def sort_key(obj: dict[str, Any]) -> tuple[int, str, str, str, str]:
    key = ObjectKey.of(obj)
    return (kind_rank(key.kind), key.group, key.kind, key.namespace, key.name)


def _stage(obj: dict[str, Any]) -> int:
    key = ObjectKey.of(obj)
    if key.kind in ("CustomResourceDefinition", "Namespace") or (
        key.kind == "ClusterRole" and key.group == "rbac.authorization.k8s.io"
    ):
        return 0
    return 1 if key.kind.endswith("Class") else 2


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """The parts of an object that matter for drift: everything but server-owned metadata and status."""
    meta = obj.get("metadata") or {}
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    body["labels"] = meta.get("labels") or {}
    body["annotations"] = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _STRIPPED_ANNOTATIONS
    }
    return body


def _force_allowed(force: bool, desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    def marked(obj: dict[str, Any] | None) -> bool:
        meta = (obj or {}).get("metadata") or {}
        values = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
        return str(values.get(FORCE_ANNOTATION, "")).lower() == "enabled"

    return force or marked(desired) or marked(live)


@dataclass
class Applier:
    """Applies sets of objects for one owner through one :class:`Cluster`."""

    cluster: Cluster
    force: bool = False
    definition_timeout: float = 60.0
    poll_interval: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    def apply_all(self, objects: Iterable[dict[str, Any]]) -> ChangeSet:
        """Stage by stage, dry-run every object first and write only when all of the stage passed.

        As Flux does: one invalid object leaves its whole stage untouched instead of half-applied.
        """
        changes = ChangeSet()
        stages: dict[int, list[dict[str, Any]]] = {0: [], 1: [], 2: []}
        for obj in objects:
            stages[_stage(obj)].append(obj)
        for stage, members in sorted(stages.items()):
            plans = [self._plan_one(obj, changes) for obj in sorted(members, key=sort_key)]
            for key, action, obj, force in plans:
                if action in (Action.CREATED, Action.CONFIGURED):
                    try:
                        self.cluster.apply(obj, force=force)
                    except KubeError as err:
                        raise ApplyError(f"{key} apply failed: {err.message}", changes=changes) from None
                changes.add(key, action)
            if stage < 2 and members:
                self._wait_current([ObjectKey.of(o) for o in members], changes)
                self.cluster.forget_discovery()  # new CRDs serve new kinds
        return changes

    def _plan_one(
        self, desired: dict[str, Any], changes: ChangeSet
    ) -> tuple[ObjectKey, Action, dict[str, Any], bool]:
        """Dry-run ``desired``: what applying it will do, and whether it needs force."""
        key = ObjectKey.of(desired)
        annotations = (desired.get("metadata") or {}).get("annotations") or {}
        policy = str(annotations.get(SSA_ANNOTATION, "")).lower()
        try:
            live = self.cluster.get(key)
            if policy == "ignore" or (policy == "ifnotpresent" and live is not None):
                return key, Action.SKIPPED, desired, False
            force = _force_allowed(self.force, desired, live)
            try:
                dry = self.cluster.apply(desired, dry_run=True, force=force)
            except (InvalidObjectError, ConflictError) as err:
                if live is None or not force or not _IMMUTABLE.search(str(err)):
                    raise
                self._recreate(key)
                live = None
                dry = self.cluster.apply(desired, dry_run=True, force=force)
        except KubeError as err:
            raise ApplyError(f"{key} dry-run failed: {err.message}", changes=changes) from None
        if live is not None and _comparable(dry) == _comparable(live):
            return key, Action.UNCHANGED, desired, force
        return key, Action.CREATED if live is None else Action.CONFIGURED, desired, force

    def _recreate(self, key: ObjectKey) -> None:
        self.cluster.delete(key)
        deadline = time.monotonic() + self.definition_timeout
        while self.cluster.get(key) is not None:
            if time.monotonic() > deadline:
                raise KubeError("was deleted to change an immutable field but did not go away", obj=str(key))
            self.sleep(self.poll_interval)

    def _wait_current(self, keys: list[ObjectKey], changes: ChangeSet) -> None:
        deadline = time.monotonic() + self.definition_timeout
        pending = list(keys)
        while pending:
            pending = [
                k for k in pending if kstatus.compute(self.cluster.get(k)).status != kstatus.Status.CURRENT
            ]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(str(k) for k in pending)
                raise ApplyError(
                    f"definitions not ready after {self.definition_timeout:.0f}s: {names}",
                    changes=changes,
                )
            self.sleep(self.poll_interval)


def with_owner_labels(objects: Iterable[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Copies of ``objects`` carrying the owner labels (and nothing else changed)."""
    result = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        result.append(obj)
    return result
