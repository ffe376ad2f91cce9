"""Errors of the kustomize capability: one family, so callers can catch a failed render."""

from __future__ import annotations

from airflow_flux_provider.errors import FluxError


class KustomizeError(FluxError):
    """A Kustomization cannot be built: bad path, bad kustomize input or a kustomize failure."""


class SubstitutionError(KustomizeError):
    """postBuild substitution failed: bad syntax, bad variable name or (strict) unset variables."""


class EnvsubstError(ValueError):
    """A ``${…}`` expression does not parse or cannot be evaluated; envsubst's own wording."""
