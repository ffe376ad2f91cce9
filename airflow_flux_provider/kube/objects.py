"""The Flux objects in the cluster: their CRDs, and whether a cluster serves a kind.

The objects are the interface a Flux user expects (``kubectl get kustomizations``, the
flux CLI's annotations, dashboards): :func:`install_crds` puts the generated definitions
in place; each task then finds its object there and writes its ``.status``
(:mod:`~airflow_flux_provider.kube.record`).
"""

from __future__ import annotations

from airflow_flux_provider.kube.apply import Applier, ChangeSet
from airflow_flux_provider.kube.cluster import Cluster, UnknownKindError


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
