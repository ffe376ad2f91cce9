"""Which model reads which ``apiVersion``/``kind``, and ``parse_object``.

Any apiVersion in a Flux or Flagger API group (``*.fluxcd.io``, ``flagger.app``) must name a
kind and version we model; anything else (Namespace, Deployment, a ``kustomization.yaml``)
is kept as a :class:`KubernetesObject`. Pydantic's errors are translated into one
:class:`SpecError` naming the object, each bad field, what is expected and the fix.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from airflow_flux_provider.errors import object_ref
from airflow_flux_provider.specs.base import FluxObject, KubernetesObject, mapping
from airflow_flux_provider.specs.errors import Problem, SpecError, shown
from airflow_flux_provider.specs.flagger import AlertProvider, Canary, MetricTemplate
from airflow_flux_provider.specs.helmrelease import HelmRelease
from airflow_flux_provider.specs.images import ImagePolicy, ImageRepository, ImageUpdateAutomation
from airflow_flux_provider.specs.kustomization import Kustomization
from airflow_flux_provider.specs.notifications import Alert, Provider, Receiver
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

#: Finds the YAML line of a field path (given as loc parts) when the object came from a file.
LineLookup = Callable[[Sequence[str | int]], int | None]


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
            "expected a Kubernetes object (a mapping with apiVersion, kind, metadata), "
            f"got {_describe(data)}",
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
        problems = _problems(model, err.errors(include_url=False), line_of)
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
            else f"one of {', '.join(sorted(KINDS))}{_did_you_mean(group, KINDS)}"
        )
        raise refuse(
            "apiVersion", f"unknown API group {group or '(core)'!r} for kind {kind}; expected {expected}"
        )
    model = kinds.get(kind)
    if model is None:
        raise refuse(
            "kind",
            f"unknown kind {kind!r} for {group}{_did_you_mean(kind, kinds)}; "
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


def _problems(model: type[BaseModel], errors: list[Any], line_of: LineLookup) -> tuple[Problem, ...]:
    """One problem per mistake: a misspelt required field is one problem, not "unknown" plus "missing"."""
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    misspelt: dict[tuple[Any, ...], str] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden" and loc:
            siblings = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
            close = difflib.get_close_matches(str(loc[-1]), siblings, n=1, cutoff=0.6)
            if close:
                misspelt[loc] = close[0]
                missing.discard((*loc[:-1], close[0]))
    problems = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc in misspelt:
            message = (
                f"unknown field {loc[-1]!r}: did you mean {misspelt[loc]!r}? It is required; fix the spelling"
            )
            problems.append(Problem(_path(loc), message, line_of(loc)))
        elif error["type"] != "missing" or loc in missing:
            problems.append(_problem(model, error, line_of))
    return tuple(problems)


def _problem(model: type[BaseModel], error: Any, line_of: LineLookup) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    path = _path(loc)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    leaf = str(loc[-1]) if loc else ""
    if kind == "missing":
        message = f"required field {leaf!r} is missing; add it under {_path(loc[:-1]) or 'the top level'}"
        return Problem(path, message, line_of(loc[:-1]))
    if kind == "extra_forbidden":
        known = _field_names(model, loc[:-1])
        message = (
            f"unknown field {leaf!r}{_did_you_mean(leaf, known)}; Flux would reject it, "
            "so remove it or fix its spelling"
        )
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_describe(value)}"
        if kind == "string_type" and isinstance(value, int | float | bool):
            message += f"; quote it ({_quoted(value)})"
        if kind == "bool_type" and isinstance(value, str):
            message += " (write true or false without quotes)"
    elif kind == "literal_error":
        message = f"{shown(value)} is not allowed; expected {ctx.get('expected')}"
    elif kind == "string_pattern_mismatch":
        message = f"{shown(value)} does not match the required pattern {ctx.get('pattern')}"
    elif kind == "string_too_short" and ctx.get("min_length") == 1:
        message = "must not be empty"
    elif kind == "value_error" or kind.startswith("flux_"):
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        message = f"{error['msg']} (got {_describe(value)})"
    if isinstance(value, str) and "${" in value:
        message += (
            "; the value is a post-build variable: validate the manifests after substitution "
            "(as the Kustomization applying them renders them)"
        )
    return Problem(path, message, line_of(loc))


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "timedelta_type": "a Go duration such as 1m",
}


def _path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {shown(value)}"


def _quoted(value: Any) -> str:
    text = "true" if value is True else "false" if value is False else str(value)
    return f'"{text}"'


def _did_you_mean(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_names(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The YAML field names of the model found at ``loc`` (for spelling suggestions)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)),
            None,
        )
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The model class inside ``X | None``, ``list[X]`` or ``Annotated[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
