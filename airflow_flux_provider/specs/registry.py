"""Which model reads which ``apiVersion``/``kind``, and ``parse_object``.

An apiVersion in one of the modelled API groups (or a near-miss of one) must name a kind and
version we model; anything else (Namespace, Deployment, a kustomize ``Kustomization``, other
Flux projects' kinds) is kept as a :class:`KubernetesObject`. Validation problems become one
:class:`SpecError` naming the object and listing each problem (see :mod:`.problems`).
"""

from __future__ import annotations

import difflib
import functools
from typing import Any

from pydantic import ValidationError

from airflow_flux_provider.errors import object_ref
from airflow_flux_provider.specs.base import FluxObject, KubernetesObject, mapping
from airflow_flux_provider.specs.errors import SpecError
from airflow_flux_provider.specs.flagger import AlertProvider, Canary, MetricTemplate
from airflow_flux_provider.specs.helmrelease import HelmRelease
from airflow_flux_provider.specs.images import ImagePolicy, ImageRepository, ImageUpdateAutomation
from airflow_flux_provider.specs.kustomization import Kustomization
from airflow_flux_provider.specs.notifications import Alert, Provider, Receiver
from airflow_flux_provider.specs.problems import LineLookup, describe, did_you_mean, problems_of
from airflow_flux_provider.specs.sources import (
    Bucket,
    GitRepository,
    HelmChart,
    HelmRepository,
    OCIRepository,
)

MODELS: tuple[type[FluxObject], ...] = (
    GitRepository, HelmRepository, HelmChart, Bucket, OCIRepository, Kustomization, HelmRelease,
    ImageRepository, ImagePolicy, ImageUpdateAutomation, Provider, Alert, Receiver,
    Canary, MetricTemplate, AlertProvider,
)  # fmt: skip

#: ``{api group: {kind: model}}`` for every modelled Flux/Flagger kind.
KINDS: dict[str, dict[str, type[FluxObject]]] = {}
for _model in MODELS:
    KINDS.setdefault(_model.api_group, {})[_model.__name__] = _model

#: Flux kinds of the modelled groups that this provider does not model: read as plain objects.
UNMODELLED: dict[str, set[str]] = {"source.toolkit.fluxcd.io": {"ExternalArtifact"}}


def is_flux_group(group: str, kind: str = "") -> bool:
    """Whether an apiVersion group is meant as one of the modelled groups, so its kind must be known.

    A near-miss (``source.toolkit.flux.io``) or a Flux kind in the core group counts too, so
    a typo is refused instead of read as some other object. Other groups, including other
    Flux projects' (``fluxcd.controlplane.io``) and kustomize's own ``Kustomization``, do not.
    """
    if group == "":
        return any(kind in kinds for kinds in KINDS.values())
    return group in KINDS or _near_a_flux_group(group)


@functools.lru_cache(maxsize=256)
def _near_a_flux_group(group: str) -> bool:
    return any(difflib.SequenceMatcher(None, group, home).ratio() >= 0.85 for home in KINDS)


def parse_object(data: dict[str, Any], *, source: str = "<inline>") -> FluxObject:
    """Validate one manifest dict into its typed model (or a ``KubernetesObject``)."""
    return parse_manifest(data, source=None if source == "<inline>" else source)


def parse_manifest(data: Any, *, source: str | None, lines: LineLookup | None = None) -> FluxObject:
    """:func:`parse_object` with an optional line lookup for file-based errors."""
    line_of: LineLookup = lines or (lambda _loc: None)
    if not isinstance(data, dict):
        raise SpecError(
            f"expected a Kubernetes object (a mapping with apiVersion, kind, metadata), got {describe(data)}",
            source=source,
            line=line_of(()),
        )
    ref = _raw_ref(data)
    model = _model_for(data, source=source, ref=ref, line_of=line_of)
    if model is None:
        return KubernetesObject.from_manifest(data)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = problems_of(model, err.errors(include_url=False), line_of)
        first = problems[0]
        raise SpecError(first.message, source=source, obj=ref, field=first.field, problems=problems) from None


def _model_for(
    data: dict[str, Any], *, source: str | None, ref: str, line_of: LineLookup
) -> type[FluxObject] | None:
    def refuse(field: str, message: str) -> SpecError:
        return SpecError(message, source=source, obj=ref, field=field, line=line_of((field,)) or line_of(()))

    api_version, kind = data.get("apiVersion", data.get("api_version")), data.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        field = "kind" if isinstance(api_version, str) and api_version else "apiVersion"
        raise refuse(
            field,
            f"{field} is missing or not a string; every manifest needs apiVersion and kind "
            "(e.g. apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository)",
        )
    group, _, version = api_version.rpartition("/")
    if not is_flux_group(group, kind) or kind in UNMODELLED.get(group, ()):
        return None
    kinds = KINDS.get(group)
    if kinds is None:
        homes = [f"{g}/{m.api_versions[0]}" for g, ks in KINDS.items() if (m := ks.get(kind)) is not None]
        expected = (
            f"apiVersion: {' or '.join(homes)}"
            if homes
            else f"one of {', '.join(sorted(KINDS))}{did_you_mean(group, KINDS)}"
        )
        raise refuse(
            "apiVersion", f"unknown API group {group or '(core)'!r} for kind {kind}; expected {expected}"
        )
    model = kinds.get(kind)
    if model is None:
        raise refuse(
            "kind",
            f"unknown kind {kind!r} for {group}{did_you_mean(kind, kinds)}; "
            f"expected one of {', '.join(sorted(kinds))}",
        )
    if version not in model.api_versions:
        raise refuse(
            "apiVersion",
            f"unknown apiVersion {api_version!r} for kind {kind}; "
            f"expected one of {', '.join(model.served_api_versions())}",
        )
    return model


def _raw_ref(data: dict[str, Any]) -> str:
    meta = mapping(data.get("metadata"))
    name, namespace, kind = meta.get("name"), meta.get("namespace"), data.get("kind")
    return object_ref(
        kind if isinstance(kind, str) and kind else "<no kind>",
        name if isinstance(name, str) and name else "<unnamed>",
        namespace if isinstance(namespace, str) and namespace else "default",
    )
