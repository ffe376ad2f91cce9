"""``KustomizationRenderOperator``: build a Flux Kustomization's manifests as one Airflow task.

The task renders a source artifact (a source task's XCom, unpacked once per digest from
the shared :class:`~airflow_flux_provider.sources.artifacts.ArtifactStore`) or a local
folder with the spec's layers and postBuild
substitution (see :mod:`airflow_flux_provider.kustomize`) and returns, as XCom, the
render's ``digest``, ``path``, ``objects`` count and per-kind ``kinds``: the input of
``KustomizationReconcileOperator(rendered=...)``.

Variables, lowest to highest precedence: substituteFrom ConfigMaps/Secrets (read through
``kubernetes_conn_id``), the Airflow Variables named in ``airflow_variables``, the DAG's
params, the run's trigger conf, the operator's ``variables=``, and finally the spec's own
``postBuild.substitute``. Values are inserted as written, as Flux does; placeholders in the
object itself (``EXPERIMENT_ID: "${EXPERIMENT_ID:-default}"``) are filled before the task
runs, by the DAG factory (see :mod:`airflow_flux_provider.dag_factory`) or by Jinja.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import Context

from airflow_flux_provider import settings
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.hooks import KUBERNETES_CONN_ID
from airflow_flux_provider.operators.base import FluxObjectOperator


def render_sealer() -> Any:
    """Airflow's Fernet key, which seals renders holding decrypted Secrets (refused without one)."""
    from airflow.sdk.crypto import get_fernet
    from airflow.sdk.exceptions import AirflowException

    try:
        fernet = get_fernet()
    except AirflowException:  # a malformed key, or none rendered into the config
        fernet = None
    if not getattr(fernet, "is_encrypted", False):
        raise FluxError(
            "a Kustomization with spec.decryption needs [core] fernet_key: its render holds decrypted "
            "Secrets and is only stored encrypted; set the key (airflow config) and retry",
            field="[core] fernet_key",
        )
    return fernet


def read_render(xcom: Mapping[str, Any]) -> str:
    """The YAML of a render task's XCom, wherever the render ran (its ``url`` in the artifact
    store); a sealed render is opened with Airflow's Fernet key."""
    from airflow_flux_provider.kustomize import Rendered, RenderStore
    from airflow_flux_provider.operators.sources import artifact_store

    rendered = Rendered(**{name: xcom[name] for name in Rendered.__dataclass_fields__ if name in xcom})
    sealer = render_sealer() if rendered.sealed else None
    local = Path(rendered.path).is_file()
    shared = artifact_store(rendered.url.rpartition("/sha256/")[0]) if rendered.url and not local else None
    return RenderStore(Path(rendered.path).parent.parent, sealer=sealer).text(rendered, shared)


def decryption_keys(ks: Any, kubernetes_conn_id: str | None) -> Any:
    """The keys of ``spec.decryption.secretRef``: the Airflow connection of that name (password:
    an age key file's content; extras: ``*.agekey`` / ``*.asc`` entries), else the cluster Secret
    in the Kustomization's namespace. Every key is masked in the task logs."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    from airflow_flux_provider.kustomize import DecryptionError, DecryptionKeys

    ref = ks.spec.decryption.secret_ref
    if ref is None:
        raise DecryptionError(
            "spec.decryption.secretRef is not set; name the Secret (or Airflow connection) holding the "
            "age identity",
            obj=ks.ref,
            field="spec.decryption.secretRef",
        )
    namespace = ks.metadata.namespace or "default"
    entries: dict[str, str | bytes]
    keys: DecryptionKeys
    try:
        conn = BaseHook.get_connection(ref.name)
    except AirflowNotFoundException:
        conn = None
    if conn is not None:
        source = f"Airflow connection {ref.name!r}"
        entries = {
            str(k): str(v) for k, v in conn.extra_dejson.items() if str(k).endswith((".agekey", ".asc"))
        }
        if conn.password:
            entries.setdefault("identity.agekey", conn.password)
        for value in entries.values():
            mask_secret(value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value)
        keys = DecryptionKeys.from_entries(entries, obj=ks.ref, source=source)
    elif kubernetes_conn_id:
        from airflow_flux_provider.hooks.kubernetes import ClusterHook
        from airflow_flux_provider.kube import ObjectKey

        source = f"Secret {namespace}/{ref.name}"
        secret = ClusterHook(kubernetes_conn_id).cluster().get(ObjectKey("v1", "Secret", namespace, ref.name))
        keys = DecryptionKeys.from_secret(secret, obj=ks.ref, source=source)
    else:
        raise DecryptionError(
            f"no Airflow connection {ref.name!r} holds the decryption keys; create it (password: the age "
            "identity) or give the task a kubernetes_conn_id to read the Secret",
            obj=ks.ref,
            field="spec.decryption.secretRef",
        )
    for identity in keys.age_identities:
        mask_secret(identity)
    return keys


class KustomizationRenderOperator(FluxObjectOperator):
    """Render a Kustomization from ``source_path`` (the artifact root) into the render store."""

    template_fields: Sequence[str] = (
        *FluxObjectOperator.template_fields,
        "source_path",
        "source_artifact",
        "source_digest",
        "variables",
        "airflow_variables",
    )
    flux_kind = "Kustomization"
    flux_api_version = "kustomize.toolkit.fluxcd.io/v1"

    def __init__(
        self,
        *,
        source_path: str | None = None,
        source_artifact: Any = None,
        source_digest: str | None = None,
        variables: dict[str, Any] | None = None,
        airflow_variables: Sequence[str] = (),
        use_dag_params: bool = True,
        kubernetes_conn_id: str | None = None,
        strict: bool = True,
        allow_remote_bases: bool = False,
        artifacts_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (source_path is None) == (source_artifact is None):
            raise FluxError(
                "give exactly one of source_path= (a folder) or source_artifact= (a source task's XCom)",
                obj=f"task '{self.task_id}'",
            )
        self.source_path = source_path
        self.source_artifact = source_artifact
        self.source_digest = source_digest
        self.variables = variables or {}
        self.airflow_variables = list(airflow_variables)
        self.use_dag_params = use_dag_params
        self.kubernetes_conn_id = kubernetes_conn_id
        self.strict = strict
        self.allow_remote_bases = allow_remote_bases
        self.artifacts_path = artifacts_path

    def gather_variables(self, context: Context) -> dict[str, str]:
        """Airflow-side variables: Variables < DAG params < trigger conf < ``variables=``."""
        from airflow.sdk import Variable

        from airflow_flux_provider.kustomize import airflow_values

        gathered: dict[str, Any] = {}
        for name in self.airflow_variables:
            value = Variable.get(name, default=None)
            if value is None:
                raise FluxError(
                    f"Airflow Variable {name!r} does not exist; create it (Admin > Variables) or drop it "
                    "from airflow_variables",
                    obj=f"task '{self.task_id}'",
                    field="airflow_variables",
                )
            gathered[name] = value
        if self.use_dag_params:
            gathered.update(dict(context.get("params") or {}))
            dag_run = context.get("dag_run")
            gathered.update(getattr(dag_run, "conf", None) or {})
        gathered.update(self.variables)
        return airflow_values(gathered)

    def _source(self) -> tuple[str, str | None]:
        """The folder to build and its digest; an artifact is unpacked once per digest and reused."""
        if self.source_artifact is None:
            return str(self.source_path), self.source_digest or None
        from airflow_flux_provider.operators.sources import artifact_store
        from airflow_flux_provider.sources.artifacts import Artifact
        from airflow_flux_provider.sources.errors import SourceError

        artifact = Artifact.from_xcom(self.source_artifact)
        folder = settings.artifacts_path() / "sources" / artifact.digest.replace(":", "-")
        if not folder.exists():
            try:
                artifact_store(artifact.store_url).extract(artifact, folder)
            except SourceError:
                if not folder.exists():  # not another task unpacking the same digest at once
                    raise
        return str(folder), artifact.digest

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_flux_provider.kustomize import ClusterReader, RenderStore, render
        from airflow_flux_provider.operators.sources import artifact_store

        ks = self.flux_object()
        cluster = self.status_cluster()
        reader = ClusterReader(cluster) if cluster else None
        keys = decryption_keys(ks, self.kubernetes_conn_id) if ks.spec.decryption is not None else None
        store = RenderStore(
            self.artifacts_path or settings.artifacts_path() / "renders",
            sealer=render_sealer() if keys is not None else None,
        )
        source_path, source_digest = self._source()
        rendered = render(
            ks,
            source_path,
            store=store,
            source_digest=source_digest,
            reader=reader,
            airflow_vars=self.gather_variables(context),
            strict=self.strict,
            allow_remote_bases=self.allow_remote_bases,
            decryption_keys=keys,
        )
        rendered = store.share(rendered, artifact_store(), source=ks.ref)  # for a reconcile elsewhere
        kinds = ", ".join(f"{count} {kind}" for kind, count in rendered.kinds.items())
        origin = "cache" if rendered.cached else f"kustomize {rendered.kustomize_version}"
        self.log.info(
            "%s rendered %d object(s) (%s) from %s: %s",
            ks.ref,
            rendered.objects,
            kinds,
            origin,
            rendered.digest,
        )
        return rendered.to_xcom()


class KustomizationDiffOperator(FluxObjectOperator):
    """``flux diff kustomization`` as a task: what applying a render would change, nothing written.

    ``rendered`` is the render task's XCom (or YAML text). The XCom holds ``changed``, counts
    per action and one entry per object; ``fail_on_changes=True`` turns drift into a failure
    (a gate before a manual approval, say).
    """

    template_fields: Sequence[str] = (*FluxObjectOperator.template_fields, "rendered")
    flux_kind = "Kustomization"
    flux_api_version = "kustomize.toolkit.fluxcd.io/v1"
    kubernetes_conn_id: str

    def __init__(
        self,
        *,
        rendered: Any,
        kubernetes_conn_id: str = KUBERNETES_CONN_ID,
        fail_on_changes: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rendered = rendered
        self.kubernetes_conn_id = kubernetes_conn_id
        self.fail_on_changes = fail_on_changes

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_flux_provider.kustomize.diff import diff

        ks = self.flux_object()
        if isinstance(self.rendered, dict) and self.rendered.get("path"):
            text = read_render(self.rendered)
        elif isinstance(self.rendered, str):
            text = self.rendered
        else:
            raise FluxError(
                "rendered must be a render task's XCom (with 'path') or multi-document YAML text",
                obj=f"task '{self.task_id}'",
                field="rendered",
            )
        report = diff(ks, text, self.connection_cluster())
        for line in report.lines():
            self.log.info("%s", line)
        if report.errors:
            raise FluxError("diff failed:\n" + "\n".join(report.errors), obj=ks.ref)
        if report.has_changes and self.fail_on_changes:
            raise FluxError(
                f"{len(report.changes)} object(s) would change; "
                "apply the render or set fail_on_changes=False",
                obj=ks.ref,
            )
        return report.to_xcom()
