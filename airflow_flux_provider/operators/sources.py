"""Source operators: fetch a Flux source into the shared artifact store, return its metadata.

The XCom is :meth:`Artifact.to_xcom` plus ``changed``; each field is also an XCom of its own
(``multiple_outputs``), so a downstream task takes ``XComArg(fetch, key="revision")`` or the
whole record as ``fetch.output``. Each operator's default outlet is
an :class:`AssetAlias` that receives an event for the source's Asset
(``flux://<namespace>/<Kind>/<name>``, extra ``{revision, digest}``) only when a new
revision was stored, so DAGs scheduled on that Asset run once per new revision.

With ``kubernetes_conn_id`` the task acts as source-controller for its object in that cluster:
it skips while the object is suspended there, and writes the fetch's outcome (Ready and the
artifact, or why it failed) to the object's ``.status``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import Asset, AssetAlias, Context

from airflow_flux_provider import settings
from airflow_flux_provider.assets import flux_asset
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.operators.base import FluxObjectOperator
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore, s3_options
from airflow_flux_provider.sources.fetched import Fetched

SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"


def artifact_store(base_url: str | None = None, conn_id: str | None = None) -> ArtifactStore:
    """The store at ``base_url``, else :func:`~airflow_flux_provider.settings.artifacts_url`."""
    base = base_url or settings.artifacts_url()
    return ArtifactStore(base, storage_options=store_options(base, conn_id))


def store_options(url: str, conn_id: str | None = None) -> dict[str, Any]:
    """fsspec options reaching ``url``: for ``s3://``, the ``flux_bucket`` connection ``conn_id``
    (else ``[flux] artifacts_conn_id``; neither: the AWS credential chain of the worker)."""
    conn_id = conn_id or settings.artifacts_conn_id()
    if not url.startswith(("s3://", "s3a://")) or not conn_id:
        return {}
    from airflow_flux_provider.hooks.connections import BucketCredentialsHook, flux_credentials

    credentials = flux_credentials(BucketCredentialsHook, f"artifact store {url}", conn_id=conn_id)
    return s3_options(credentials.extra.get("endpoint"), credentials)


class SourceOperator(FluxObjectOperator):
    """What the per-kind source operators share: the store, the alias outlet and the XCom."""

    template_fields: Sequence[str] = (
        *FluxObjectOperator.template_fields,
        "artifacts_url",
        "artifacts_conn_id",
    )

    def __init__(
        self,
        *,
        artifacts_url: str | None = None,
        artifacts_conn_id: str | None = None,
        force: bool = False,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs:
            name = kwargs.get("name") or kwargs.get("task_id")
            kwargs["outlets"] = [AssetAlias(f"flux-source-{self.flux_kind.lower()}-{name}")]
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.artifacts_url = artifacts_url
        self.artifacts_conn_id = artifacts_conn_id
        self.force = force

    def store(self) -> ArtifactStore:
        return artifact_store(self.artifacts_url, self.artifacts_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_flux_provider.sources.status import SourceStatus

        obj = self.flux_object()
        cluster = self.status_cluster()
        self.skip_if_suspended(obj, cluster)

        def fetch() -> tuple[Fetched, Callable[[SourceStatus], None]]:
            fetched = self.fetch(obj)
            return fetched, lambda status: status.fetched(fetched.artifact)

        fetched = self.recorded(obj, cluster, SourceStatus, fetch)
        return self._publish(context, fetched.artifact, fetched.changed)

    def fetch(self, obj: Any) -> Fetched:
        """Fetch the typed source ``obj`` into :meth:`store` (per kind)."""
        raise NotImplementedError

    def _publish(self, context: Context, artifact: Artifact, changed: bool) -> dict[str, Any]:
        if changed:
            self.log.info("%s: stored new artifact for revision %s", artifact.source, artifact.revision)
            self._announce(context, artifact)
        else:
            self.log.info("%s: artifact up-to-date with revision %s", artifact.source, artifact.revision)
        return {**artifact.to_xcom(), "changed": changed}

    def _announce(self, context: Context, artifact: Artifact) -> None:
        """Attach ``{revision, digest}`` to every outlet's event (alias outlets only get one now)."""
        outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
        if outlet_events is None:
            return
        extra: dict[str, Any] = {"revision": artifact.revision, "digest": artifact.digest}
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                outlet_events[outlet].add(flux_asset(*artifact.source.split("/")), extra=extra)
            elif isinstance(outlet, Asset):
                outlet_events[outlet].extra = extra

    def _fetch_with(
        self, obj: Any, hook_class: Any, explicit_conn_id: str | None, fetch: Callable[..., Fetched]
    ) -> Fetched:
        """Read the connection (explicit id, else ``secretRef.name``), ``fetch(obj, creds, store)``."""
        from airflow_flux_provider.hooks.connections import flux_credentials

        credentials = flux_credentials(
            hook_class, obj.ref, conn_id=explicit_conn_id, secret_ref=obj.spec.secret_ref
        )
        return fetch(obj, credentials, self.store())


class BucketOperator(SourceOperator):
    """Fetches a Bucket (S3 API); the revision comes from the listing, as Flux computes it."""

    flux_kind = "Bucket"
    flux_api_version = SOURCE_API_VERSION
    template_fields: Sequence[str] = (*SourceOperator.template_fields, "bucket_conn_id")

    def __init__(self, *, bucket_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bucket_conn_id = bucket_conn_id

    def fetch(self, obj: Any) -> Fetched:
        from airflow_flux_provider.hooks.connections import BucketCredentialsHook
        from airflow_flux_provider.sources.bucket import BucketSource

        return self._fetch_with(
            obj,
            BucketCredentialsHook,
            self.bucket_conn_id,
            lambda obj, creds, store: BucketSource.from_spec(obj, creds).fetch(store),
        )


class OCIRepositoryOperator(SourceOperator):
    """Pulls an OCIRepository's artifact (tag, semver or digest ref; selected layer)."""

    flux_kind = "OCIRepository"
    flux_api_version = SOURCE_API_VERSION
    template_fields: Sequence[str] = (*SourceOperator.template_fields, "registry_conn_id")

    def __init__(self, *, registry_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry_conn_id = registry_conn_id

    def fetch(self, obj: Any) -> Fetched:
        from airflow_flux_provider.hooks.connections import RegistryCredentialsHook
        from airflow_flux_provider.sources.oci import OCISource

        return self._fetch_with(
            obj,
            RegistryCredentialsHook,
            self.registry_conn_id,
            lambda obj, creds, store: OCISource.from_spec(obj, creds).fetch(store),
        )


class HelmRepositoryOperator(SourceOperator):
    """Fetches a HelmRepository's index.yaml; the revision is the digest of the index."""

    flux_kind = "HelmRepository"
    flux_api_version = SOURCE_API_VERSION
    template_fields: Sequence[str] = (*SourceOperator.template_fields, "helm_conn_id")

    def __init__(self, *, helm_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.helm_conn_id = helm_conn_id

    def fetch(self, obj: Any) -> Fetched:
        from airflow_flux_provider.hooks.connections import HelmRepositoryCredentialsHook
        from airflow_flux_provider.sources.helm import HelmRepositorySource

        return self._fetch_with(
            obj,
            HelmRepositoryCredentialsHook,
            self.helm_conn_id,
            lambda obj, creds, store: HelmRepositorySource.from_spec(obj, creds).fetch_index(store),
        )


class HelmChartOperator(SourceOperator):
    """Stores a chart package as Flux's HelmChart does.

    With ``sourceRef.kind: HelmRepository`` give that repository's manifest as
    ``repository`` (the chart version is chosen by ``spec.version``); with a GitRepository or
    Bucket source give that fetch's XCom as ``source_artifact`` (``spec.chart`` is a path).
    """

    flux_kind = "HelmChart"
    flux_api_version = SOURCE_API_VERSION
    template_fields: Sequence[str] = (
        *SourceOperator.template_fields,
        "repository",
        "source_artifact",
        "helm_conn_id",
    )

    def __init__(
        self,
        *,
        repository: dict[str, Any] | None = None,
        source_artifact: dict[str, Any] | None = None,
        helm_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.repository = repository
        self.source_artifact = source_artifact
        self.helm_conn_id = helm_conn_id

    def fetch(self, chart: Any) -> Fetched:
        from airflow_flux_provider.hooks.connections import HelmRepositoryCredentialsHook, flux_credentials
        from airflow_flux_provider.sources.helm import HelmRepositorySource, chart_from_artifact
        from airflow_flux_provider.specs import parse_object

        spec, store = chart.spec, self.store()
        if spec.source_ref.kind != "HelmRepository":
            if self.source_artifact is None:
                raise FluxError(
                    f"sourceRef is a {spec.source_ref.kind}; pass its fetch XCom as source_artifact=",
                    obj=chart.ref,
                    field="spec.sourceRef",
                )
            return chart_from_artifact(
                store,
                Artifact.from_xcom(self.source_artifact),
                spec.chart,
                obj=chart.ref,
                reconcile_strategy=spec.reconcile_strategy,
            )
        if self.repository is None:
            raise FluxError(
                f"pass the HelmRepository {spec.source_ref.name!r} manifest as repository=",
                obj=chart.ref,
                field="spec.sourceRef",
            )
        repo = parse_object(self.repository, source=f"task '{self.task_id}' repository")
        credentials = flux_credentials(
            HelmRepositoryCredentialsHook,
            repo.ref,
            conn_id=self.helm_conn_id,
            secret_ref=repo.spec.secret_ref,
        )
        source = HelmRepositorySource.from_spec(repo, credentials)
        return source.fetch_chart(store, spec.chart, spec.version, obj=chart.ref)


class GitRepositoryOperator(SourceOperator):
    """Fetches a GitRepository; ``included`` maps ``spec.include`` names to their artifacts' XComs."""

    flux_kind = "GitRepository"
    flux_api_version = SOURCE_API_VERSION
    template_fields: Sequence[str] = (
        *SourceOperator.template_fields,
        "git_conn_id",
        "verify_conn_id",
        "included",
    )

    def __init__(
        self,
        *,
        git_conn_id: str | None = None,
        verify_conn_id: str | None = None,
        included: dict[str, dict[str, Any]] | None = None,
        cache_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.git_conn_id = git_conn_id
        self.verify_conn_id = verify_conn_id
        self.included = included
        self.cache_dir = cache_dir

    def fetch(self, repo: Any) -> Fetched:
        from airflow_flux_provider.hooks.connections import GitCredentialsHook, flux_credentials
        from airflow_flux_provider.sources.git import GitSource
        from airflow_flux_provider.sources.verify import Verification

        keys: tuple[str, ...] = ()
        if repo.spec.verify is not None:
            keyring = flux_credentials(
                GitCredentialsHook,
                repo.ref,
                conn_id=self.verify_conn_id,
                secret_ref=repo.spec.verify.secret_ref,
                field="spec.verify.secretRef",
            )
            keys = Verification.keys_from({"password": keyring.password, **keyring.extra})
        credentials = flux_credentials(
            GitCredentialsHook, repo.ref, conn_id=self.git_conn_id, secret_ref=repo.spec.secret_ref
        )
        source = GitSource.from_spec(repo, credentials, verify_keys=keys, cache_dir=self.cache_dir)
        included = {name: Artifact.from_xcom(x) for name, x in (self.included or {}).items()}
        return source.fetch(self.store(), included=included, force=self.force)
