"""One Airflow Asset per Flux object: ``flux://<namespace>/<Kind>/<name>``.

A source fetch puts an event on its object's Asset when it stores a new revision, the source
and image policy sensors when they see a change, a Receiver when its webhook is called; a DAG
scheduled on the Asset runs as Flux would reconcile what depends on the object. The Asset's name
is its URI, so an ``Asset("flux://flux-system/GitRepository/podinfo")`` written by hand is the
same asset (Airflow keeps names and URIs each unique).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_flux_provider.errors import FluxError

if TYPE_CHECKING:
    from airflow.sdk import Asset

ASSET_SCHEME = "flux"
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


class AssetNameError(FluxError):
    """A kind, namespace or name that cannot be part of a Flux object's Asset URI."""


def flux_asset_uri(kind: str, namespace: str, name: str) -> str:
    """``flux://apps/GitRepository/podinfo``; ``name`` may be ``*`` where a Receiver selects by kind.

    Only Kubernetes kinds and names are accepted: Airflow would cut a URI at ``?`` or ``#``, so
    two objects could otherwise share one Asset.
    """
    for part, value, pattern in (
        ("kind", kind, _KIND),
        ("namespace", namespace, _NAMESPACE),
        ("name", name, _NAME),
    ):
        if not (pattern.fullmatch(value) or (part == "name" and value == "*")):
            shown = value if len(value) <= 60 else f"{value[:60]}..."
            raise AssetNameError(
                f"{shown!r} is not a Kubernetes {part}; name the Flux object as the cluster does "
                "(lowercase letters, digits, '-', and '.' in names)",
                field=f"metadata.{part}" if part != "kind" else "kind",
            )
    return f"{ASSET_SCHEME}://{namespace}/{kind}/{name}"


def flux_asset(kind: str, namespace: str, name: str) -> Asset:
    """The Asset that stands for one Flux object."""
    from airflow.sdk import Asset

    return Asset(flux_asset_uri(kind, namespace, name))
