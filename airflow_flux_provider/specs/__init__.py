"""Typed models of the Flux and Flagger objects this provider implements.

``load_manifests`` reads YAML (text, a file or a folder) into these models,
``parse_object`` validates one manifest dict; both raise :class:`SpecError` on bad input.
Every model has ``api_version``, ``kind``, ``metadata``, ``spec``, ``ref`` and
``to_manifest()``; objects of other kinds load as :class:`KubernetesObject`.
"""

from airflow_flux_provider.specs.base import FluxObject, KubernetesObject, ObjectMeta
from airflow_flux_provider.specs.duration import (
    FLAGGER_DURATION_PATTERN,
    Duration,
    DurationError,
    format_duration,
    parse_duration,
)
from airflow_flux_provider.specs.errors import Problem, SpecError
from airflow_flux_provider.specs.flagger import AlertProvider, Canary, MetricTemplate
from airflow_flux_provider.specs.helmrelease import HelmRelease
from airflow_flux_provider.specs.images import ImagePolicy, ImageRepository, ImageUpdateAutomation
from airflow_flux_provider.specs.kustomization import Kustomization
from airflow_flux_provider.specs.manifests import load_manifests
from airflow_flux_provider.specs.notifications import Alert, Provider, Receiver
from airflow_flux_provider.specs.registry import KINDS, parse_object
from airflow_flux_provider.specs.sources import (
    Bucket,
    GitRepository,
    HelmChart,
    HelmRepository,
    OCIRepository,
)

__all__ = [
    "FLAGGER_DURATION_PATTERN",
    "KINDS",
    "Alert",
    "AlertProvider",
    "Bucket",
    "Canary",
    "Duration",
    "DurationError",
    "FluxObject",
    "GitRepository",
    "HelmChart",
    "HelmRelease",
    "HelmRepository",
    "ImagePolicy",
    "ImageRepository",
    "ImageUpdateAutomation",
    "KubernetesObject",
    "Kustomization",
    "MetricTemplate",
    "OCIRepository",
    "ObjectMeta",
    "Problem",
    "Provider",
    "Receiver",
    "SpecError",
    "format_duration",
    "load_manifests",
    "parse_duration",
    "parse_object",
]
