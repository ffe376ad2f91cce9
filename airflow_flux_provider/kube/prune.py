"""Garbage collection of objects that left the inventory, verified by Flux's owner labels."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_flux_provider.kube import marks
from airflow_flux_provider.kube.apply import Action, ChangeSet, kind_rank
from airflow_flux_provider.kube.cluster import Cluster, KubeError, ObjectKey, UnknownKindError


@dataclass
class PruneResult:
    changes: ChangeSet = field(default_factory=ChangeSet)
    failed: dict[ObjectKey, str] = field(default_factory=dict)


def prune(cluster: Cluster, stale: list[ObjectKey], owner_labels: dict[str, str]) -> PruneResult:
    """Delete stale objects, dependents before what they depend on (reverse kind order).

    An object is deleted only if it still carries every owner label (so nothing we did not
    apply is touched) and is not annotated to be kept. Failures are collected, not raised,
    so the caller can keep the survivors in the inventory and retry on the next run.
    """
    result = PruneResult()
    for key in sorted(
        stale, key=lambda k: (kind_rank(k.kind), k.group, k.kind, k.namespace, k.name), reverse=True
    ):
        try:
            live = cluster.get(key)
            if live is None:
                result.changes.add(key, Action.DELETED)
                continue
            labels = (live.get("metadata") or {}).get("labels") or {}
            if any(labels.get(k) != v for k, v in owner_labels.items()) or marks.prune_protected(live):
                result.changes.add(key, Action.SKIPPED)
                continue
            cluster.delete(key)
            result.changes.add(key, Action.DELETED)
        except UnknownKindError:
            # The API no longer serves the kind (its CRD was removed): nothing of it can exist,
            # so it counts as gone, as in Flux, instead of failing every prune from now on.
            result.changes.add(key, Action.DELETED)
        except KubeError as err:
            result.failed[key] = err.message
    return result
