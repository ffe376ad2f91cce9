"""The outcome of one fetch, shared by the Bucket, Helm and OCI sources."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_flux_provider.sources.artifacts import Artifact


@dataclass(frozen=True)
class Fetched:
    """``changed`` is False when the source still has the revision of the last stored artifact,
    so downstream work can be skipped (Flux's "artifact up-to-date with remote revision")."""

    artifact: Artifact
    changed: bool
