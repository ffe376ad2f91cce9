"""One Airflow Asset per Flux object: ``flux://<namespace>/<Kind>/<name>``.

A source fetch puts an event on its object's Asset when it stores a new revision, the source
and image policy sensors when they see a change, a Receiver when its webhook is called; a DAG
scheduled on the Asset runs as Flux would reconcile what depends on the object. The Asset's name
is its URI, so an ``Asset("flux://flux-system/GitRepository/podinfo")`` written by hand is the
same asset (Airflow keeps names and URIs each unique).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Asset

ASSET_SCHEME = "flux"


def flux_asset_uri(kind: str, namespace: str, name: str) -> str:
    """``flux://apps/GitRepository/podinfo``; ``name`` may be ``*`` where a Receiver selects by kind."""
    return f"{ASSET_SCHEME}://{namespace}/{kind}/{name}"


def flux_asset(kind: str, namespace: str, name: str) -> Asset:
    """The Asset that stands for one Flux object."""
    from airflow.sdk import Asset

    return Asset(flux_asset_uri(kind, namespace, name))
