"""Flux-faithful kustomize builds: spec layering, real kustomize, postBuild substitution.

``render(kustomization, source, store=…)`` is the one call most users need; see
:mod:`.render` for the steps and :mod:`.variables` for where variables come from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from airflow_flux_provider.kustomize.decryption import DecryptionError, DecryptionKeys
from airflow_flux_provider.kustomize.errors import KustomizeError, SubstitutionError
from airflow_flux_provider.kustomize.kustomize_cli import kustomize_version
from airflow_flux_provider.kustomize.render import Renderer, split_documents, tree_digest
from airflow_flux_provider.kustomize.store import Rendered, RenderStore, Sealer, digest_of
from airflow_flux_provider.kustomize.variables import (
    ClusterReader,
    ObjectReader,
    airflow_values,
    fill_placeholders,
)
from airflow_flux_provider.specs.kustomization import Kustomization


def render(
    kustomization: Kustomization,
    source: Path | str,
    *,
    store: RenderStore,
    source_digest: str | None = None,
    reader: ObjectReader | None = None,
    airflow_vars: Mapping[str, str] | None = None,
    strict: bool = True,
    allow_remote_bases: bool = False,
    keep_encrypted: bool = False,
    ignore: Sequence[str] | None = None,
    decryption_keys: DecryptionKeys | None = None,
) -> Rendered:
    """Render ``kustomization`` from the artifact root ``source`` into ``store`` (cached by inputs).

    ``keep_encrypted`` is ``flux build``'s view: SOPS-encrypted Secrets stay in the render (to be
    masked when printed) instead of failing the build as they fail a reconcile, and ``ignore``
    (``--ignore-paths``; ``[]`` for none) turns on its ignore filter: the default exclusions and
    the ``.sourceignore`` files of the built folder, then these patterns. A Kustomization with
    ``spec.decryption`` needs ``decryption_keys`` and a sealing ``store``.
    """
    renderer = Renderer(
        kustomization,
        store=store,
        reader=reader,
        strict=strict,
        allow_remote_bases=allow_remote_bases,
        keep_encrypted=keep_encrypted,
        ignore=ignore,
        decryption_keys=decryption_keys,
    )
    return renderer.render(source, source_digest=source_digest, airflow_vars=airflow_vars)


__all__ = [
    "ClusterReader",
    "DecryptionError",
    "DecryptionKeys",
    "KustomizeError",
    "ObjectReader",
    "RenderStore",
    "Rendered",
    "Renderer",
    "Sealer",
    "SubstitutionError",
    "airflow_values",
    "digest_of",
    "fill_placeholders",
    "kustomize_version",
    "render",
    "split_documents",
    "tree_digest",
]
