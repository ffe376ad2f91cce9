"""CustomResourceDefinitions for every Flux and Flagger kind the typed models know.

Generated, never hand-written: each served apiVersion of a model becomes a CRD version,
the newest one stored; its ``openAPIV3Schema`` is the model's JSON schema made
structural (references inlined, nullable unions unwrapped, free-form fields marked
``x-kubernetes-preserve-unknown-fields``), its ``status`` the kind's model in
:mod:`.status` behind the status subresource, and its printer columns the ones the
Flux and Flagger CRDs declare, so ``kubectl get kustomizations`` reads as it does with
Flux. Older apiVersions whose field names differ (see each model's ``upgrade_spec``)
keep their spec as written: the provider renames the fields when it reads them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from airflow_flux_provider import __version__
from airflow_flux_provider.specs.base import FluxObject
from airflow_flux_provider.specs.registry import MODELS
from airflow_flux_provider.specs.status import STATUS_MODELS

CRD_API_VERSION = "apiextensions.k8s.io/v1"
PART_OF = {"app.kubernetes.io/part-of": "airflow-flux-provider", "app.kubernetes.io/version": __version__}

_READY = '.status.conditions[?(@.type=="Ready")]'
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_READY_STATUS = [
    {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
    {"name": "Status", "type": "string", "jsonPath": f"{_READY}.message"},
]


def _column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


@dataclass(frozen=True)
class Names:
    plural: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


#: Plural and short names, as upstream registers them.
NAMES: dict[str, Names] = {
    "GitRepository": Names("gitrepositories", ("gitrepo",)),
    "HelmRepository": Names("helmrepositories", ("helmrepo",)),
    "HelmChart": Names("helmcharts", ("hc",)),
    "Bucket": Names("buckets"),
    "OCIRepository": Names("ocirepositories", ("ocirepo",)),
    "Kustomization": Names("kustomizations", ("ks",)),
    "HelmRelease": Names("helmreleases", ("hr",)),
    "ImageRepository": Names("imagerepositories", ("imagerepo",)),
    "ImagePolicy": Names("imagepolicies", ("imgpol", "imagepol")),
    "ImageUpdateAutomation": Names("imageupdateautomations", ("iua", "imgupd", "imgauto")),
    "Provider": Names("providers"),
    "Alert": Names("alerts"),
    "Receiver": Names("receivers"),
    "Canary": Names("canaries", (), ("all",)),
    "MetricTemplate": Names("metrictemplates"),
    "AlertProvider": Names("alertproviders"),
}

#: ``kubectl get`` columns per kind (after NAME), as the upstream CRDs declare them.
PRINTER_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "GitRepository": [_column("URL", ".spec.url"), _AGE, *_READY_STATUS],
    "HelmRepository": [_column("URL", ".spec.url"), _AGE, *_READY_STATUS],
    "HelmChart": [
        _column("Chart", ".spec.chart"),
        _column("Version", ".spec.version"),
        _column("Source Kind", ".spec.sourceRef.kind"),
        _column("Source Name", ".spec.sourceRef.name"),
        _AGE,
        *_READY_STATUS,
    ],
    "Bucket": [_column("Endpoint", ".spec.endpoint"), _AGE, *_READY_STATUS],
    "OCIRepository": [_column("URL", ".spec.url"), *_READY_STATUS, _AGE],
    "Kustomization": [_AGE, *_READY_STATUS],
    "HelmRelease": [_AGE, *_READY_STATUS],
    "ImageRepository": [
        _column("Image", ".spec.image"),
        _column("Tags", ".status.lastScanResult.tagCount", "integer"),
        _column("Last scan", ".status.lastScanResult.scanTime"),
        *_READY_STATUS,
        _AGE,
    ],
    "ImagePolicy": [
        _column("Image", ".status.latestRef.name"),
        _column("Tag", ".status.latestRef.tag"),
        *_READY_STATUS,
        _AGE,
    ],
    "ImageUpdateAutomation": [_column("Last run", ".status.lastAutomationRunTime"), *_READY_STATUS, _AGE],
    "Provider": [_AGE],
    "Alert": [_AGE],
    "Receiver": [_AGE, *_READY_STATUS],
    "Canary": [
        _column("Status", ".status.phase"),
        _column("Weight", ".status.canaryWeight", "integer"),
        _column("FailedChecks", ".status.failedChecks", "integer", 1),
        _column("Interval", ".spec.analysis.interval", priority=1),
        _column("Mirror", ".spec.analysis.mirror", "boolean", 1),
        _column("StepWeight", ".spec.analysis.stepWeight", "integer", 1),
        _column("MaxWeight", ".spec.analysis.maxWeight", "integer", 1),
        _column("LastTransitionTime", ".status.lastTransitionTime"),
    ],
    "MetricTemplate": [_column("Provider", ".spec.provider.type"), _AGE],
    "AlertProvider": [_column("Type", ".spec.type"), _AGE],
}

_KEPT = ("description", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum",
         "minItems", "maxItems")  # fmt: skip
_PRESERVE = {"x-kubernetes-preserve-unknown-fields": True}


class _Structural:
    """Turns one pydantic JSON schema into a Kubernetes structural schema."""

    def __init__(self, schema: dict[str, Any], *, defaults: bool) -> None:
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.defaults = defaults  # only spec fields: a defaulted status would claim work not done

    def convert(self, node: dict[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
        if "$ref" in node:
            name = node["$ref"].rpartition("/")[2]
            if name in seen:  # a recursive type: its deeper levels are kept as written
                return {"type": "object", **_PRESERVE}
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return self.convert({**self.defs[name], **rest}, (*seen, name))
        if "anyOf" in node:
            return self._union(node, seen)
        if "const" in node:
            node = {**node, "enum": [node["const"]]}
        kind = node.get("type")
        if kind == "object":
            out = self._object(node, seen)
        elif kind == "array":
            items = node.get("items")
            out = {"type": "array", "items": self.convert(items, seen) if items else dict(_PRESERVE)}
        elif kind in ("string", "integer", "number", "boolean"):
            out = {"type": kind}
        else:  # Any: whatever the user wrote is kept
            out = dict(_PRESERVE)
        out.update({k: copy.deepcopy(node[k]) for k in _KEPT if k in node})
        if "description" in out:
            out["description"] = " ".join(out["description"].replace("``", "").split())
        if isinstance(node.get("exclusiveMinimum"), int | float):
            out.update(minimum=node["exclusiveMinimum"], exclusiveMinimum=True)
        if isinstance(node.get("exclusiveMaximum"), int | float):
            out.update(maximum=node["exclusiveMaximum"], exclusiveMaximum=True)
        if self.defaults and _keeps_default(out, node.get("default")):
            out["default"] = node["default"]
        return out

    def _union(self, node: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(branches) == 1:
            return self.convert({**branches[0], **rest}, seen)
        described = {"description": node["description"]} if "description" in node else {}
        if {b.get("type") for b in branches} == {"string", "integer"}:
            return {"x-kubernetes-int-or-string": True, **described}
        return {**_PRESERVE, **described}

    def _object(self, node: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        properties = node.get("properties") or {}
        extra = node.get("additionalProperties")
        if properties:
            out["properties"] = {name: self.convert(prop, seen) for name, prop in properties.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
            if extra is True:
                out.update(_PRESERVE)
        elif isinstance(extra, dict) and extra:
            out["additionalProperties"] = self.convert(extra, seen)
        elif extra is not False:
            out.update(_PRESERVE)
        return out


def _keeps_default(out: dict[str, Any], default: Any) -> bool:
    """Plain defaults only: Go duration defaults print differently in JSON schema (``PT0S``)."""
    if default is None or isinstance(default, list | dict) or "pattern" in out:
        return False
    return out.get("type") in ("boolean", "integer", "number", "string")


def _openapi_schema(model: type[FluxObject], *, typed_spec: bool) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    structural = _Structural(schema, defaults=True)
    spec_node = schema["properties"].get("spec")
    if typed_spec and spec_node is not None:
        spec = structural.convert(spec_node)
    else:
        spec = {
            "type": "object",
            "description": "The spec as written for this apiVersion; the provider renames fields on read.",
            **_PRESERVE,
        }
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec,
    }
    status_model = STATUS_MODELS.get(model.__name__)
    if status_model is not None:
        status_schema = status_model.model_json_schema(by_alias=True, mode="validation")
        properties["status"] = _Structural(status_schema, defaults=False).convert(status_schema)
    root: dict[str, Any] = {"type": "object", "properties": properties}
    if model.__doc__:
        root["description"] = " ".join(model.__doc__.replace("``", "").split())
    return root


def _renames_fields(model: type[FluxObject]) -> bool:
    return model.upgrade_spec.__func__ is not FluxObject.upgrade_spec.__func__  # type: ignore[attr-defined]


def crd_for(model: type[FluxObject]) -> dict[str, Any]:
    """The CRD of one kind: every served apiVersion, the newest one stored."""
    kind = model.__name__
    names = NAMES[kind]
    versions = []
    for index, version in enumerate(model.api_versions):
        entry: dict[str, Any] = {
            "name": version,
            "served": True,
            "storage": index == 0,
            "schema": {
                "openAPIV3Schema": _openapi_schema(model, typed_spec=index == 0 or not _renames_fields(model))
            },
            "additionalPrinterColumns": copy.deepcopy(PRINTER_COLUMNS[kind]),
        }
        if kind in STATUS_MODELS:
            entry["subresources"] = {"status": {}}
        versions.append(entry)
    spec_names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": names.plural,
        "singular": kind.lower(),
    }
    if names.short_names:
        spec_names["shortNames"] = list(names.short_names)
    if names.categories:
        spec_names["categories"] = list(names.categories)
    return {
        "apiVersion": CRD_API_VERSION,
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names.plural}.{model.api_group}", "labels": dict(PART_OF)},
        "spec": {"group": model.api_group, "names": spec_names, "scope": "Namespaced", "versions": versions},
    }


def flux_crds() -> list[dict[str, Any]]:
    """Every CRD, in a stable order (by API group, then kind)."""
    return [crd_for(model) for model in sorted(MODELS, key=lambda m: (m.api_group, m.__name__))]


def plural_of(kind: str) -> str:
    """The resource name ``kubectl`` and the API paths use for a Flux or Flagger kind."""
    return NAMES[kind].plural
