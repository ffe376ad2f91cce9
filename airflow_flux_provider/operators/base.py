"""What every operator acting on one Flux object shares: how the object is given.

A DAG author passes either the whole manifest (a dict, YAML text, or a ``.yaml`` file
path that Airflow renders as a template) or ``spec=`` plus ``name``/``namespace``, so
the ``spec:`` of a Flux object can be pasted as is. Parsing happens at execute time,
after templating, never in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import yaml
from airflow.sdk import BaseOperator

from airflow_flux_provider.errors import FluxError


class FluxObjectOperator(BaseOperator):
    template_fields: Sequence[str] = ("manifest", "spec", "object_name", "object_namespace")
    template_ext: Sequence[str] = (".yaml", ".yml")
    template_fields_renderers: ClassVar[dict[str, str]] = {"manifest": "yaml", "spec": "json"}

    #: Kind and default apiVersion used when only ``spec=`` is given.
    flux_kind: ClassVar[str] = ""
    flux_api_version: ClassVar[str] = ""

    def __init__(
        self,
        *,
        manifest: dict[str, Any] | str | None = None,
        spec: dict[str, Any] | None = None,
        name: str | None = None,
        namespace: str = "flux-system",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (manifest is None) == (spec is None):
            raise FluxError(
                "give exactly one of manifest= (the whole object) or spec= (with name=)",
                obj=f"{type(self).__name__} task '{self.task_id}'",
            )
        self.manifest = manifest
        self.spec = spec
        self.object_name = name or self.task_id
        self.object_namespace = namespace

    def object_manifest(self) -> dict[str, Any]:
        """The Flux object as a manifest dict, after templating."""
        if self.spec is not None:
            return {
                "apiVersion": self.flux_api_version,
                "kind": self.flux_kind,
                "metadata": {"name": self.object_name, "namespace": self.object_namespace},
                "spec": self.spec,
            }
        manifest = self.manifest
        if isinstance(manifest, str):
            try:
                manifest = yaml.safe_load(manifest)
            except yaml.YAMLError as err:
                raise FluxError(f"manifest is not valid YAML: {err}", obj=f"task '{self.task_id}'") from None
        if not isinstance(manifest, dict):
            raise FluxError(
                "manifest must be a mapping with apiVersion, kind, metadata and spec",
                obj=f"task '{self.task_id}'",
            )
        return manifest

    def flux_object(self) -> Any:
        """The validated typed model (see :mod:`airflow_flux_provider.specs`)."""
        from airflow_flux_provider.specs import parse_object

        return parse_object(self.object_manifest(), source=f"task '{self.task_id}'")
