"""Drift: live objects that no longer match the manifest helm recorded for the release.

Flux dry-runs a server-side apply of the stored manifest and diffs the result. We compare
each manifest object with the live one field by field, where the manifest is a subset of
the live object (fields the API server adds, such as defaults and status, are not drift).
Objects labelled or annotated ``helm.toolkit.fluxcd.io/driftDetection: disabled`` and
``driftDetection.ignore`` JSON pointers are left out, as in Flux.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import yaml

from airflow_flux_provider.helm.errors import HelmError
from airflow_flux_provider.kube import Cluster, ObjectKey
from airflow_flux_provider.patterns import regex
from airflow_flux_provider.specs.helmrelease import DriftIgnoreRule

_OPT_OUT = "helm.toolkit.fluxcd.io/driftDetection"


@dataclass
class Drift:
    key: ObjectKey
    missing: bool = False
    paths: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.key} {'missing' if self.missing else 'changed: ' + ', '.join(self.paths)}"


def manifest_objects(text: str, namespace: str) -> list[dict[str, Any]]:
    """The objects in ``helm get manifest`` output, with the release namespace filled in."""
    objects = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind"):
            doc.setdefault("metadata", {}).setdefault("namespace", namespace)
            objects.append(doc)
    return objects


def _pointer_parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _drop(obj: Any, pointer: str) -> None:
    parts = _pointer_parts(pointer)
    node = obj
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if parts and isinstance(node, dict):
        node.pop(parts[-1], None)


def _selected(rule: DriftIgnoreRule, obj: dict[str, Any]) -> bool:
    target = rule.target
    if target is None:
        return True
    meta = obj.get("metadata", {})
    checks = [(target.kind, obj.get("kind", "")), (target.name, meta.get("name", ""))]
    checks.append((target.namespace, meta.get("namespace", "")))
    field = "spec.driftDetection.ignore[].target"
    return all(
        want is None or regex(want, field=field, error=HelmError).fullmatch(have) for want, have in checks
    )


def _differences(desired: Any, live: Any, path: str = "") -> list[str]:
    if isinstance(desired, dict) and isinstance(live, dict):
        found = []
        for key, value in desired.items():
            here = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
            found += [here] if key not in live else _differences(value, live[key], here)
        return found
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [
            d
            for i, (a, b) in enumerate(zip(desired, live, strict=True))
            for d in _differences(a, b, f"{path}/{i}")
        ]
    if desired != live and not (isinstance(desired, (int, float)) and str(desired) == str(live)):
        return [path or "/"]
    return []


def detect_drift(
    cluster: Cluster, objects: list[dict[str, Any]], ignore: list[DriftIgnoreRule] | None = None
) -> list[Drift]:
    drifted = []
    for obj in objects:
        meta = obj.get("metadata", {})
        if "disabled" in (
            (meta.get("labels") or {}).get(_OPT_OUT),
            (meta.get("annotations") or {}).get(_OPT_OUT),
        ):
            continue
        desired = copy.deepcopy(obj)
        rules = [r for r in ignore or [] if _selected(r, obj)]
        if any("" in r.paths for r in rules):
            continue
        key = ObjectKey.of(obj)
        live = cluster.get(key)
        if live is None:
            drifted.append(Drift(key, missing=True))
            continue
        for rule in rules:
            for pointer in rule.paths:
                _drop(desired, pointer)
        if paths := _differences(desired, live):
            drifted.append(Drift(key, paths=paths))
    return drifted


def correct_drift(cluster: Cluster, objects: list[dict[str, Any]], drifted: list[Drift]) -> None:
    """Re-apply the drifted objects from the release manifest (no new helm revision, as Flux)."""
    keys = {str(d.key) for d in drifted}
    for obj in objects:
        if str(ObjectKey.of(obj)) in keys:
            cluster.apply(obj, force=True)
