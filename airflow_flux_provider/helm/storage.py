"""Helm's release storage, read through the Kubernetes API as helm-controller reads it (helm's library).

Helm (the ``secret`` driver our :class:`~airflow_flux_provider.helm.cli.HelmCli` leaves in place)
keeps each revision in a Secret ``sh.helm.release.v1.<name>.v<revision>`` labelled
``owner=helm,name=<name>``, its ``release`` key the base64 of the gzipped release JSON (the JSON
``helm install --output json`` prints). Reading it is one list request instead of a ``helm
history`` process per reconcile, the largest cost a no-op reconcile had. Every write stays
with helm.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any

from airflow_flux_provider.helm.errors import HelmCommandError
from airflow_flux_provider.helm.state import HelmRevision
from airflow_flux_provider.kube import Cluster, KubeError

_GZIP_MAGIC = b"\x1f\x8b\x08"


def decode_release(secret: dict[str, Any]) -> Any:
    """The release JSON of one storage Secret, as helm decodes it (gzip only when it is gzipped)."""
    data = base64.b64decode(base64.b64decode((secret.get("data") or {})["release"]))
    return json.loads(gzip.decompress(data) if data.startswith(_GZIP_MAGIC) else data)


def release_history(
    cluster: Cluster, name: str, namespace: str, *, obj: str | None = None
) -> list[HelmRevision]:
    """The stored revisions of release ``namespace/name``, oldest first; empty when there are none."""
    try:
        secrets = cluster.list("v1", "Secret", namespace=namespace, label_selector=f"owner=helm,name={name}")
    except KubeError as err:  # a failed reconcile step, as a failed helm command is
        raise HelmCommandError(
            f"cannot read helm's storage of {namespace}/{name}: {err.message}", obj=obj
        ) from None
    try:
        return sorted(
            (HelmRevision.from_release(decode_release(s)) for s in secrets), key=lambda r: r.revision
        )
    except (KeyError, TypeError, ValueError, binascii.Error, OSError, EOFError, zlib.error) as err:
        raise HelmCommandError(
            f"helm history of {namespace}/{name} is unreadable ({str(err)[:200]}); inspect the release's "
            "storage secrets (owner=helm) in that namespace",
            obj=obj,
        ) from None
