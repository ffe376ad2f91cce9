"""``flux suspend`` / ``flux resume``: whether an object's tasks should act on it now.

``flux suspend`` patches ``spec.suspend: true`` on the object in the cluster, not in Git,
so the live object is what a task asks; the manifest it was given (from Git) counts too.
A suspended object's tasks do nothing and say how to resume it.
"""

from __future__ import annotations

from typing import Any

from airflow_flux_provider.kube.cluster import Cluster, ObjectKey, UnknownKindError
from airflow_flux_provider.kube.record import flux_api_version

#: The words the flux CLI uses for a kind (``flux resume <words> <name>``); Flagger has no CLI.
FLUX_CLI_KINDS = {
    "GitRepository": "source git",
    "OCIRepository": "source oci",
    "Bucket": "source bucket",
    "HelmRepository": "source helm",
    "HelmChart": "source chart",
    "Kustomization": "kustomization",
    "HelmRelease": "helmrelease",
    "ImageRepository": "image repository",
    "ImagePolicy": "image policy",
    "ImageUpdateAutomation": "image update",
    "Receiver": "receiver",
    "Alert": "alert",
    "Provider": "alert-provider",
}


def live_object(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object in the cluster; None when it is not there or its kind is not served."""
    try:
        return cluster.get(ObjectKey(flux_api_version(kind), kind, namespace, name))
    except UnknownKindError:
        return None


def suspended_message(manifest: dict[str, Any], live: dict[str, Any] | None) -> str | None:
    """Why the object's tasks skip (naming the way to resume it), or None when it is not suspended."""
    in_git = bool((manifest.get("spec") or {}).get("suspend"))
    in_cluster = bool(((live or {}).get("spec") or {}).get("suspend"))
    if not (in_git or in_cluster):
        return None
    kind = str(manifest.get("kind"))
    meta = manifest.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    ref = f"{kind}/{namespace}/{name}"
    if in_git:
        return f"{ref} is suspended (spec.suspend: true in its manifest); remove it there to resume"
    patch = '\'{"spec":{"suspend":false}}\''
    resume = f"kubectl patch {kind.lower()} {name} -n {namespace} --type=merge -p {patch}"
    if kind in FLUX_CLI_KINDS:
        resume = f"flux resume {FLUX_CLI_KINDS[kind]} {name} -n {namespace}' (or '{resume}"
    return f"{ref} is suspended in the cluster (spec.suspend: true); resume it with '{resume}'"
