"""Drift: what a server-side apply of the release manifest would change in the cluster.

As helm-controller detects it (fluxcd/pkg ``ssa/jsondiff``): every object of the release
manifest, with the metadata helm puts on it, is dry-run applied with force under helm's
field manager, and the server's answer is compared with the live object: labels and
annotations for additions and changes, everything outside ``metadata`` and ``status`` in
full. So only what the chart sets counts: values the server stores in another form
(``cpu: 0.5`` as ``500m``), defaults, ``creationTimestamp: null`` and list entries other
managers added are not drift. Objects labelled or annotated
``helm.toolkit.fluxcd.io/driftDetection: disabled``, in the chart or in the cluster, are
excluded; ``driftDetection.ignore`` rules drop JSON pointers from both sides of the objects
their ``target`` selects.

Correction (``mode: enabled``) writes back exactly the drifted fields, a JSON patch under
helm's field manager (a removed object is created again), without a new helm revision.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from airflow_flux_provider.helm.errors import DriftError
from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey
from airflow_flux_provider.kube.ignore import IgnoreRules, drop, escape
from airflow_flux_provider.specs.helmrelease import DriftIgnoreRule

OPT_OUT = "helm.toolkit.fluxcd.io/driftDetection"
#: The field manager the helm binary writes under; corrections keep the fields in its name,
#: so the next upgrade owns them without a conflict.
HELM_FIELD_MANAGER = "helm"


class Op(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True)
class Operation:
    """One RFC 6902 operation that takes the live object back to the desired one."""

    op: Op
    path: str
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op.value,
            "path": self.path,
            **({} if self.op is Op.REMOVE else {"value": self.value}),
        }


@dataclass(frozen=True)
class Drift:
    """One object the cluster no longer holds as the release wrote it."""

    key: ObjectKey
    desired: dict[str, Any] = field(compare=False, repr=False)
    #: empty when the object is gone from the cluster
    patch: tuple[Operation, ...] = ()

    @property
    def removed(self) -> bool:
        return not self.patch

    def __str__(self) -> str:
        if self.removed:
            return f"{self.key} removed"
        return f"{self.key} changed: {', '.join(o.path for o in self.patch)}"


@dataclass(frozen=True)
class DriftReport:
    drifted: tuple[Drift, ...] = ()
    #: objects that could not be compared (``Kind/namespace/name: why``)
    errors: tuple[str, ...] = ()


def release_objects(manifest: str, cluster: Cluster, *, release: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of ``helm get manifest`` as helm applied them: its labels and annotations on,
    ``namespace`` on namespaced kinds without one, no ``status`` and no ``creationTimestamp``."""
    objects = []
    for doc in yaml.safe_load_all(manifest):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        meta = doc.setdefault("metadata", {})
        meta.pop("creationTimestamp", None)
        doc.pop("status", None)
        meta["labels"] = {**(meta.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"}
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            "meta.helm.sh/release-name": release,
            "meta.helm.sh/release-namespace": namespace,
        }
        if not meta.get("namespace"):
            try:
                namespaced = cluster.resource(doc.get("apiVersion", ""), doc["kind"]).namespaced
            except KubeError:
                namespaced = True  # unknown kind: the dry-run reports it
            if namespaced:
                meta["namespace"] = namespace
        objects.append(doc)
    return objects


def _opted_out(obj: dict[str, Any] | None) -> bool:
    meta = (obj or {}).get("metadata") or {}
    return "disabled" in (
        (meta.get("labels") or {}).get(OPT_OUT),
        (meta.get("annotations") or {}).get(OPT_OUT),
    )


def _operations(live: Any, desired: Any, path: str) -> list[Operation]:
    """A patch from ``live`` to ``desired``: maps key by key, equal-length lists item by item."""
    if live == desired:
        return []
    if isinstance(live, dict) and isinstance(desired, dict):
        ops = []
        for key, value in desired.items():
            here = f"{path}/{escape(str(key))}"
            ops += (
                [Operation(Op.ADD, here, value)] if key not in live else _operations(live[key], value, here)
            )
        ops += [Operation(Op.REMOVE, f"{path}/{escape(str(k))}") for k in live if k not in desired]
        return ops
    if isinstance(live, list) and isinstance(desired, list) and len(live) == len(desired):
        return [
            op
            for i, (a, b) in enumerate(zip(live, desired, strict=True))
            for op in _operations(a, b, f"{path}/{i}")
        ]
    return [Operation(Op.REPLACE, path, desired)]


def _diff(live: dict[str, Any], dry_run: dict[str, Any]) -> list[Operation]:
    """jsondiff's comparison: label/annotation additions and changes (never removals: controllers
    add their own), then everything but metadata and status."""
    ops: list[Operation] = []
    live_meta, dry_meta = live.get("metadata") or {}, dry_run.get("metadata") or {}
    for section in ("labels", "annotations"):
        have, want = live_meta.get(section), dry_meta.get(section)
        if want and not have:
            ops.append(Operation(Op.ADD, f"/metadata/{section}", want))
        elif want:
            ops += [o for o in _operations(have, want, f"/metadata/{section}") if o.op is not Op.REMOVE]
    bodies = [{k: v for k, v in o.items() if k not in ("metadata", "status")} for o in (live, dry_run)]
    return ops + _operations(bodies[0], bodies[1], "")


def detect_drift(
    cluster: Cluster, objects: list[dict[str, Any]], ignore: list[DriftIgnoreRule], *, obj: str
) -> DriftReport:
    """Compare each object with what a forced server-side apply of it would leave in the cluster."""
    rules = IgnoreRules.compile(ignore, obj=obj, field="spec.driftDetection.ignore", error=DriftError)
    drifted: list[Drift] = []
    errors: list[str] = []
    for desired in objects:
        pointers = rules.pointers(desired)
        if _opted_out(desired) or None in pointers:
            continue
        key = ObjectKey.of(desired)
        try:
            live = cluster.get(key)
            if _opted_out(live):
                continue
            if live is None:
                drifted.append(Drift(key, desired))
                continue
            dry_run = cluster.apply(desired, force=True, dry_run=True, field_manager=HELM_FIELD_MANAGER)
        except KubeError as err:
            errors.append(f"{key}: {err.message}")
            continue
        live = copy.deepcopy(live)
        for parts in pointers:
            assert parts is not None
            drop(live, parts)
            drop(dry_run, parts)
        if patch := _diff(live, dry_run):
            drifted.append(Drift(key, desired, tuple(patch)))
    return DriftReport(tuple(drifted), tuple(errors))


def correct_drift(cluster: Cluster, drifted: tuple[Drift, ...]) -> list[str]:
    """Write the drifted fields back (create removed objects); the failures, one line each."""
    failures = []
    for drift in drifted:
        try:
            if drift.removed:
                cluster.apply(drift.desired, force=True, field_manager=HELM_FIELD_MANAGER)
            else:
                operations = [o.to_json() for o in drift.patch]
                cluster.json_patch(drift.key, operations, field_manager=HELM_FIELD_MANAGER)
        except KubeError as err:
            failures.append(f"{drift.key}: {_masked(drift.key, err.message)}")
    return failures


def _masked(key: ObjectKey, message: str) -> str:
    """A Secret's patch error may quote the data it refused: keep only the reason, as Flux does."""
    return message.rsplit(":", 1)[-1].strip() if key.kind == "Secret" and key.group == "" else message
