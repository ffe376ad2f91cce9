"""Structures several Flux kinds share: object references, patches, image overrides."""

from __future__ import annotations

import re
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from airflow_flux_provider.specs.base import SpecModel


def _int_or_string(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError(
            "flux_int_or_string", f"expected a number or a name, got {type(value).__name__}"
        )
    return value


#: Kubernetes ``IntOrString`` (e.g. a port given by number or by name).
IntOrString = Annotated[int | str, BeforeValidator(_int_or_string)]


class LocalObjectReference(SpecModel):
    """``{name}`` of an object in the referring object's namespace (e.g. ``secretRef``)."""

    name: str = Field(min_length=1)


class SecretKeyReference(SpecModel):
    """``{name, key?}``: a Secret and optionally one key of it."""

    name: str = Field(min_length=1)
    key: str | None = None


class NamespacedObjectReference(SpecModel):
    """``{name, namespace?}``; the namespace defaults to the referring object's."""

    name: str = Field(min_length=1)
    namespace: str | None = None


class DependencyReference(NamespacedObjectReference):
    """An entry of ``dependsOn``: wait until that object is Ready (or ``readyExpr`` holds)."""

    ready_expr: str | None = None


class NamespacedObjectKindReference(SpecModel):
    """``{apiVersion?, kind, name, namespace?}`` (health checks, Alert sources)."""

    api_version: str | None = None
    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)
    namespace: str | None = None


class HealthCheckExpression(SpecModel):
    """CEL expressions deciding the health of a custom resource kind."""

    api_version: str = Field(min_length=1)
    kind: str | None = None
    current: str = Field(min_length=1)
    in_progress: str | None = None
    failed: str | None = None


class LabelSelector(SpecModel):
    """A Kubernetes label selector."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[dict[str, Any]] = Field(default_factory=list)


class Selector(SpecModel):
    """The ``target`` of a patch: which rendered objects it applies to."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


_JSON6902_OPS = ("add", "remove", "replace", "move", "copy", "test")


class Patch(SpecModel):
    """A strategic-merge or JSON6902 patch (YAML text), optionally limited to ``target``.

    The text is parsed here, as kustomize will parse it at build time, so a broken patch is
    refused with the manifest rather than when the Kustomization is built.
    """

    patch: str = Field(min_length=1)
    target: Selector | None = None

    @model_validator(mode="after")
    def _parsable(self) -> Patch:
        documents = _patch_documents(self.patch)
        if len(documents) == 1 and isinstance(documents[0], list):
            if self.target is None:
                raise ValueError(
                    "a JSON6902 patch (a list of operations) needs a target, e.g. target: {kind: Deployment}"
                )
            _check_operations(documents[0])
        elif not documents or not all(isinstance(d, dict) for d in documents):
            raise ValueError("patch must be strategic-merge object(s) or one list of JSON6902 operations")
        return self


def _patch_documents(text: str) -> list[Any]:
    # A line of only spaces and tabs is blank to Go's YAML (kustomize), not to PyYAML.
    blanked = re.sub(r"(?m)^[ \t]+$", "", text)
    try:
        return [d for d in yaml.safe_load_all(blanked) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1} of the patch)" if mark else ""
        raise ValueError(f"patch is not valid YAML{where}: {getattr(err, 'problem', err)}") from None


def _check_operations(operations: list[Any]) -> None:
    for index, operation in enumerate(operations, start=1):
        if not isinstance(operation, dict) or operation.get("op") not in _JSON6902_OPS:
            raise ValueError(f"patch operation {index} needs op: one of {', '.join(_JSON6902_OPS)}")
        if not isinstance(operation.get("path"), str):
            raise ValueError(f"patch operation {index} needs a path, e.g. path: /spec/replicas")


class ImageOverride(SpecModel):
    """A kustomize ``images`` entry: replace an image's name, tag or digest."""

    name: str = Field(min_length=1)
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None


class CommonMetadata(SpecModel):
    """Labels and annotations added to every object applied."""

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class KubeConfigReference(SpecModel):
    """Where to find the kubeconfig of a remote cluster."""

    secret_ref: SecretKeyReference | None = None
    config_map_ref: LocalObjectReference | None = None
