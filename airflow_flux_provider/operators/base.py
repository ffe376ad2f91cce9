"""What every operator acting on one Flux object shares: how the object is given.

A DAG author passes either the whole manifest (a dict, YAML text, or a ``.yaml`` file
path that Airflow renders as a template) or ``spec=`` plus ``name``/``namespace``, so
the ``spec:`` of a Flux object can be pasted as is. The object's name comes from the
manifest or ``name=``, never from the task id (task ids are snake_case, Kubernetes names
are not). A manifest with nothing left to template is validated when the operator is
built, so a mistake is an import error in the DAG processor rather than a failed run;
one with Jinja (or a file, or an XComArg) is validated at execute time, after templating.

With a ``kubernetes_conn_id`` the task also acts as the object's controller in that
cluster: it skips while the object is suspended there (``flux suspend``) and writes the
outcome to the object's ``.status``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import yaml
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_flux_provider.errors import FluxError

if TYPE_CHECKING:
    from airflow_flux_provider.kube import Cluster
    from airflow_flux_provider.kube.record import ObjectStatus


R = TypeVar("R")
S = TypeVar("S", bound="ObjectStatus")


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
        kubernetes_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (manifest is None) == (spec is None):
            raise FluxError(
                "give exactly one of manifest= (the whole object) or spec= (with name=)",
                obj=f"{type(self).__name__} task '{self.task_id}'",
            )
        if spec is not None and not name:
            raise FluxError(
                f"spec= needs name=, the {self.flux_kind}'s metadata.name (the task id is no object name)",
                obj=f"{type(self).__name__} task '{self.task_id}'",
                field="name",
            )
        self.manifest = manifest
        self.spec = spec
        self.object_name = name
        self.object_namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self._connection_cluster: Cluster | None = None
        if not _templated(manifest if spec is None else (spec, name, namespace)):
            self.flux_object()  # nothing to render: a mistake fails the DAG's import here

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

        obj = parse_object(self.object_manifest(), source=f"task '{self.task_id}'")
        if self.flux_kind and type(obj).__name__ != self.flux_kind:
            raise FluxError(
                f"{type(self).__name__} acts on a {self.flux_kind}, got {obj.ref}; give a {self.flux_kind} "
                "manifest or use the operator of that kind",
                obj=f"task '{self.task_id}'",
            )
        return obj

    def status_cluster(self) -> Cluster | None:
        """The cluster holding the object, as the connection's own identity (never impersonated:
        like a Flux controller it reads and writes the object's status); None without a connection."""
        return self.connection_cluster() if self.kubernetes_conn_id else None

    def connection_cluster(self) -> Cluster:
        """The ``kubernetes_conn_id`` connection's cluster, built once per task process: the steps
        of one run share its connection read, kubeconfig load and API discovery."""
        if self._connection_cluster is None:
            from airflow_flux_provider.hooks.kubernetes import ClusterHook

            self._connection_cluster = ClusterHook(self.kubernetes_conn_id or "").cluster()
        return self._connection_cluster

    def skip_if_suspended(self, obj: Any, cluster: Cluster | None) -> None:
        """Skip the task while ``spec.suspend`` is true in the manifest or on the live object."""
        from airflow_flux_provider.kube.suspend import live_object, suspended_message

        live = live_object(cluster, obj.kind, obj.metadata.namespace, obj.metadata.name) if cluster else None
        message = suspended_message(obj.to_manifest(), live)
        if message:
            raise AirflowSkipException(message)

    def recorded(
        self,
        obj: Any,
        cluster: Cluster | None,
        record_type: type[S],
        work: Callable[[], tuple[R, Callable[[S], None]]],
    ) -> R:
        """Run ``work`` (its result, and how that result changes the object's status) and record
        it on the object; a FluxError is recorded as Ready False (``failed``) and raised again."""
        from airflow_flux_provider.kube.record import update_status

        manifest = obj.to_manifest()
        try:
            result, change = work()
        except FluxError as err:
            if cluster is not None:
                message = err.message
                update_status(cluster, manifest, record_type, lambda status: status.failed(message))
            raise
        if cluster is not None:
            update_status(cluster, manifest, record_type, change)
        return result


def _templated(value: Any) -> bool:
    """Whether ``value`` is only known after templating: Jinja, a template file, an XComArg."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value or value.endswith((".yaml", ".yml"))
    if isinstance(value, dict):
        return any(_templated(k) or _templated(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_templated(v) for v in value)
    return not isinstance(value, int | float | bool | None)
