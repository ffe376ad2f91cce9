"""Release identity as helm-controller derives it from a HelmRelease."""

from __future__ import annotations

import hashlib

from airflow_flux_provider.specs import HelmRelease

_MAX_RELEASE_NAME = 53


def release_name(hr: HelmRelease) -> str:
    """``releaseName``, else ``<targetNamespace>-<name>``, else ``<name>``; shortened past 53 chars.

    A long name becomes its first 40 characters, ``-`` and 12 hex of its sha256, so two long
    names that share a prefix still get distinct releases (as Flux does).
    """
    if hr.spec.release_name:
        name = hr.spec.release_name
    elif hr.spec.target_namespace:
        name = f"{hr.spec.target_namespace}-{hr.metadata.name}"
    else:
        name = hr.metadata.name
    if len(name) > _MAX_RELEASE_NAME:
        name = f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


def target_namespace(hr: HelmRelease) -> str:
    """Where the chart's objects go."""
    return hr.spec.target_namespace or hr.metadata.namespace


def storage_namespace(hr: HelmRelease) -> str:
    """Where helm keeps the release secrets."""
    return hr.spec.storage_namespace or hr.metadata.namespace
