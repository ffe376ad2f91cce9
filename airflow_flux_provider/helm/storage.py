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
import contextlib
import json
import zlib
from collections.abc import Iterator
from typing import Any

from airflow_flux_provider.helm.errors import HelmCommandError
from airflow_flux_provider.helm.state import HelmRevision
from airflow_flux_provider.kube import Cluster, KubeError, ObjectKey

_GZIP_MAGIC = b"\x1f\x8b\x08"
#: A release record's JSON, unzipped: a chart's manifests many times over, and a bound on what
#: a Secret of at most 1 MiB may expand to (gzip reaches ~1000x).
MAX_RELEASE_BYTES = 64 * 2**20


def decode_release(secret: dict[str, Any]) -> Any:
    """The release JSON of one storage Secret, as helm decodes it (gzip only when it is gzipped)."""
    data = base64.b64decode(base64.b64decode((secret.get("data") or {})["release"]))
    return json.loads(_gunzip(data) if data.startswith(_GZIP_MAGIC) else data)


def _gunzip(data: bytes) -> bytes:
    unzip = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = unzip.decompress(data, MAX_RELEASE_BYTES)
    if unzip.unconsumed_tail:
        raise ValueError(f"the record expands beyond {MAX_RELEASE_BYTES // 2**20} MiB")
    if not unzip.eof:
        raise EOFError("the gzip stream ends early")
    return out


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
    with _readable(name, namespace, obj):
        return sorted(
            (HelmRevision.from_release(decode_release(s)) for s in secrets), key=lambda r: r.revision
        )


def stored_release(
    cluster: Cluster, name: str, namespace: str, revision: int, *, obj: str | None = None
) -> Any:
    """Revision ``revision`` of the release as helm stored it (``manifest``, ``apply_method``, ...)."""
    key = ObjectKey("v1", "Secret", namespace, f"sh.helm.release.v1.{name}.v{revision}")
    try:
        secret = cluster.get(key)
    except KubeError as err:
        raise HelmCommandError(
            f"cannot read helm's storage of {namespace}/{name}: {err.message}", obj=obj
        ) from None
    if secret is None:
        raise HelmCommandError(
            f"revision {revision} of release {namespace}/{name} is not in helm's storage (Secret "
            f"{key.name}); it was removed while this reconcile ran, the next run reads the storage again",
            obj=obj,
        )
    with _readable(name, namespace, obj):
        release = decode_release(secret)
        if not isinstance(release, dict):
            raise TypeError(f"not a helm release: {str(release)[:200]}")
        return release


@contextlib.contextmanager
def _readable(name: str, namespace: str, obj: str | None) -> Iterator[None]:
    """A storage record that does not decode is an error naming the release and where to look."""
    try:
        yield
    except (KeyError, TypeError, ValueError, binascii.Error, OSError, EOFError, zlib.error) as err:
        raise HelmCommandError(
            f"helm history of {namespace}/{name} is unreadable ({str(err)[:200]}); inspect the release's "
            "storage secrets (owner=helm) in that namespace",
            obj=obj,
        ) from None
