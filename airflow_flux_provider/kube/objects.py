"""The Flux objects in the cluster: their CRDs, whether a cluster serves a kind, the object itself.

The objects are the interface a Flux user expects (``kubectl get kustomizations``, the
flux CLI's annotations, dashboards): :func:`install_crds` puts the generated definitions
in place; each task then finds its object there and writes its ``.status``
(:mod:`~airflow_flux_provider.kube.record`).
"""

from __future__ import annotations

from typing import Any

from airflow_flux_provider.kube.apply import Applier, ChangeSet
from airflow_flux_provider.kube.cluster import Cluster, NotFoundError, ObjectKey, UnknownKindError


def install_crds(cluster: Cluster) -> ChangeSet:
    """Create or update every Flux and Flagger CRD, waiting until each is established.

    Unchanged definitions are only dry-run, so a second install writes nothing.
    """
    from airflow_flux_provider.specs.crds import flux_crds

    return Applier(cluster, force=True).apply_all(flux_crds())


def serves(cluster: Cluster, api_version: str, kind: str) -> bool:
    """Whether the cluster serves ``kind`` at ``api_version`` (its CRD is installed)."""
    try:
        cluster.resource(api_version, kind)
    except UnknownKindError:
        return False
    return True


def ensure_object(cluster: Cluster, manifest: dict[str, Any]) -> dict[str, Any]:
    """The Flux object in the cluster, created from ``manifest`` when it is not there.

    An object already there is left as it is: whoever applied it (the flux-system
    Kustomization, a person with kubectl, ``flux suspend``) owns its spec. Creating it is
    a server-side apply under the same field manager as a Kustomization's apply, so the
    Kustomization that later applies it from Git takes it over without a conflict.
    """
    body = {k: v for k, v in manifest.items() if k != "status"}
    key = ObjectKey.of(body)
    live = cluster.get(key)
    if live is not None:
        return live
    try:
        return cluster.apply(body)
    except NotFoundError:  # its namespace (flux-system, usually) on first use
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": key.namespace}})
        return cluster.apply(body)
