"""What every manifest model shares: camelCase aliases, strict fields, metadata, ``ref``.

Fields are snake_case in Python and camelCase in YAML; either spelling is accepted. Types
are strict as the Kubernetes API server is (``"true"`` is not a bool, ``1.2`` is not a
string) and unknown fields are refused as Flux's CRD validation would refuse them;
free-form fields (Helm values, patches, labels) are typed ``dict``/``Any``.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from airflow_flux_provider.errors import object_ref

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one (for reading untrusted raw manifests)."""
    return value if isinstance(value, dict) else {}


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _kubernetes_name(
    value: str, field: str, limit: int, pattern: re.Pattern[str], chars: str, example: str
) -> str:
    """``value`` if the API server would take it as ``field``; else the rule it breaks, with an example."""
    if len(value) > limit or not pattern.match(value):
        raise ValueError(
            f"{field} {value!r} is not a valid Kubernetes {field}: use at most {limit} lower-case {chars}, "
            f"starting and ending with a letter or digit (e.g. {example})"
        )
    return value


def dns_subdomain(value: str, field: str, limit: int = 253) -> str:
    """``value`` if it is a DNS-1123 subdomain of at most ``limit`` characters (object and release names)."""
    return _kubernetes_name(value, field, limit, _DNS_SUBDOMAIN, "letters, digits, '-' or '.'", "ml-gitops")


def dns_label(value: str, field: str) -> str:
    """``value`` if it is a DNS-1123 label (namespaces)."""
    return _kubernetes_name(value, field, 63, _DNS_LABEL, "letters, digits or '-'", "flux-system")


class SpecModel(BaseModel):
    """Base of every typed part of a manifest."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
        validate_default=False,
    )

    @model_serializer(mode="wrap")
    def _drop_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave out lists and mappings left empty by default, as a hand-written manifest would."""
        out = handler(self)
        if isinstance(out, dict):
            for key in _empty_by_default(type(self)):
                if out.get(key, None) in ([], {}):
                    del out[key]
        return out


@functools.cache
def _empty_by_default(model: type[BaseModel]) -> tuple[str, ...]:
    """The YAML names of a model's fields whose default is an empty list or mapping."""
    return tuple(
        field.alias or name
        for name, field in model.model_fields.items()
        if field.default_factory is not None and field.get_default(call_default_factory=True) in ([], {})
    )


class ObjectMeta(SpecModel):
    """``metadata``: the identity of an object; fields the API server sets are kept as they are."""

    name: str = Field(min_length=1)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generate_name: str | None = None
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[dict[str, Any]] = Field(default_factory=list)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    deletion_grace_period_seconds: int | None = None
    managed_fields: list[dict[str, Any]] = Field(default_factory=list)
    self_link: str | None = None

    @field_validator("name")
    @classmethod
    def _dns_subdomain(cls, value: str) -> str:
        return dns_subdomain(value, "name")

    @field_validator("namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        return dns_label(value, "namespace")


class FluxObject(SpecModel):
    """A manifest: ``apiVersion``, ``kind``, ``metadata`` and (for typed kinds) ``spec``.

    Typed subclasses set ``api_group`` and ``api_versions`` (newest first) and may override
    :meth:`upgrade_spec` to map the field names of older apiVersions onto the current shape.
    """

    api_group: ClassVar[str] = ""
    api_versions: ClassVar[tuple[str, ...]] = ()

    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: Any = None
    status: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``Kind/namespace/name``, as every error and event names the object."""
        return object_ref(self.kind, self.metadata.name, self.metadata.namespace)

    @property
    def version(self) -> str:
        """The version part of ``apiVersion`` (``v1beta2``)."""
        return self.api_version.rpartition("/")[2]

    def to_manifest(self, *, latest: bool = False) -> dict[str, Any]:
        """The object as YAML would hold it (camelCase, durations as Go strings, defaults filled).

        Fields always have their current names; the apiVersion is the one read, or with
        ``latest=True`` the newest one, which makes the result a migrated manifest.
        """
        manifest = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if latest and self.api_versions:
            manifest["apiVersion"] = self.served_api_versions()[0]
        return manifest

    @classmethod
    def served_api_versions(cls) -> tuple[str, ...]:
        """Every accepted ``apiVersion``, newest first."""
        return tuple(f"{cls.api_group}/{v}" for v in cls.api_versions)

    @classmethod
    def upgrade_spec(cls, spec: dict[str, Any], version: str) -> dict[str, Any]:
        """Rename the fields of an older ``version`` to the current shape (default: unchanged)."""
        return spec

    @field_validator("api_version")
    @classmethod
    def _served(cls, value: str) -> str:
        served = cls.served_api_versions()
        if served and value not in served:
            raise PydanticCustomError(
                "flux_api_version",
                f"unknown apiVersion {value!r} for kind {cls.__name__}; expected one of {', '.join(served)}",
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not cls.api_versions or not isinstance(data, dict):
            return data
        spec = data.get("spec")
        api_version = data.get("apiVersion", data.get("api_version"))
        if isinstance(spec, dict) and isinstance(api_version, str):
            return {**data, "spec": cls.upgrade_spec(dict(spec), api_version.rpartition("/")[2])}
        return data


class KubernetesObject(FluxObject):
    """Any other Kubernetes object (Namespace, Deployment, a kustomize config…), kept as is."""

    raw: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @classmethod
    def from_manifest(cls, data: dict[str, Any]) -> KubernetesObject:
        """Wrap a raw manifest; its metadata is read leniently (kustomize configs have none)."""
        meta = mapping(data.get("metadata"))
        labels, annotations = mapping(meta.get("labels")), mapping(meta.get("annotations"))
        metadata = ObjectMeta.model_construct(
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or "default"),
            labels={str(k): str(v) for k, v in labels.items()},
            annotations={str(k): str(v) for k, v in annotations.items()},
            # every list given, which also spares pydantic's slow default-factory introspection
            finalizers=_listed(meta.get("finalizers")),
            owner_references=_listed(meta.get("ownerReferences")),
            managed_fields=_listed(meta.get("managedFields")),
        )
        return cls.model_construct(
            api_version=str(data.get("apiVersion", "")),
            kind=str(data.get("kind", "")),
            metadata=metadata,
            spec=data.get("spec"),
            raw=data,
        )

    def to_manifest(self, *, latest: bool = False) -> dict[str, Any]:
        """The manifest exactly as it was read (a copy); ``latest`` changes nothing here."""
        return copy.deepcopy(self.raw)
