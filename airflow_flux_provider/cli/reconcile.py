"""``reconcile``: what ``flux reconcile`` does for a whole cluster folder, without a scheduler.

    python -m airflow_flux_provider reconcile -f clusters/production [--kubeconfig K]
        [--var NAME=VALUE …] [--secret NAME=USER:PASSWORD …] [--timeout 5m]

Image automation objects run first (scan, policy, commit and push when a source is
given), then every source is fetched (GitRepository, Bucket, OCIRepository, HelmRepository
index), each Kustomization is built and reconciled in ``dependsOn`` order, and each
HelmRelease is installed, upgraded, tested or remediated as helm-controller does (its chart
packaged from its HelmRepository, Git or Bucket source as Flux's HelmChart, or an
OCIRepository's artifact). Change sets, release actions and Ready statuses are printed (with
a status line on a terminal while each step runs, or as one JSON document with ``--output
json``, see :mod:`~airflow_flux_provider.cli.progress`); a failed source fails the objects
built from it, not the others. ``${VAR}``
placeholders in the folder's manifests (``postBuild.substitute`` values included) come from
``--var`` and then the environment, filled once as a parent Kustomization would.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from airflow_flux_provider.cli.progress import Progress, add_output_flag
from airflow_flux_provider.cluster_plan import ClusterPlan, PlannedObject, plan_folder
from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.sources.artifacts import Artifact
from airflow_flux_provider.sources.fetched import Fetched


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("reconcile", help="fetch, build and reconcile a folder of Flux objects")
    parser.add_argument("-f", "--file", required=True, type=Path, help="folder or file of Flux objects")
    parser.add_argument("--kubeconfig", help="kubeconfig of the target cluster (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=USER:PASSWORD",
        help="credentials for a secretRef",
    )
    parser.add_argument("--timeout", default="", help="health check timeout (default: each spec's timeout)")
    parser.add_argument("--artifacts", type=Path, help="artifact store folder (default: a temporary one)")
    add_output_flag(parser)
    parser.set_defaults(func=run)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise FluxError(f"{flag} {value!r} is not NAME=VALUE", field=flag)
        pairs[name] = rest
    return pairs


def _credentials(secrets: dict[str, str], obj: PlannedObject) -> Credentials:
    name = (obj.spec.get("secretRef") or {}).get("name")
    if not name:
        return ANONYMOUS
    if name not in secrets:
        raise FluxError(
            f"pass its credentials with --secret {name}=USER:PASSWORD", obj=obj.ref, field="spec.secretRef"
        )
    user, _, password = secrets[name].partition(":")
    return Credentials(username=user, password=password)


def _substituted(obj: PlannedObject, variables: dict[str, str]) -> Any:
    """The typed object after filling its ``${VAR}`` placeholders, as a substituting parent would."""
    from airflow_flux_provider.kustomize import fill_placeholders
    from airflow_flux_provider.specs import parse_object

    filled = fill_placeholders(obj.manifest, variables, obj=obj.ref, source="--var or the environment")
    return parse_object(filled, source=obj.file)


def run(args: argparse.Namespace) -> int:
    from airflow_flux_provider.kube import Cluster

    variables = {**os.environ, **_pairs(args.var, "--var")}
    secrets = _pairs(args.secret, "--secret")
    plan = plan_folder(args.file)
    cluster = Cluster.from_kubeconfig(args.kubeconfig, context=args.context)
    total = len(plan.sources) + len(plan.kustomizations) + len(plan.helm_releases)
    progress = Progress.of(args, total=total)
    with tempfile.TemporaryDirectory(prefix="flux-reconcile-") as tmp:
        folder = args.artifacts or Path(tmp)
        _images(plan, cluster, variables, secrets, progress)
        run = _Run(args, plan, cluster, variables, secrets, folder, progress)
        run.fetch_sources()
        for ks in plan.kustomizations:
            run.kustomization(ks)
        run.helm_releases()
    return progress.finish()


def _images(
    plan: ClusterPlan, cluster: Any, variables: dict[str, str], secrets: dict[str, str], progress: Progress
) -> None:
    """Scan, choose and, for an ImageUpdateAutomation, commit and push the new tags; each object's
    outcome goes to its status."""
    if not plan.image_objects:
        return
    from airflow_flux_provider.images.automation import run_image_objects

    by_ref = {o.ref: o for o in plan.image_objects}

    def git_source(automation: Any) -> tuple[str, Credentials]:
        source = plan.source_of(by_ref[automation.ref])
        return str(_substituted(source, variables).spec.url), _credentials(secrets, source)

    typed = [_substituted(o, variables) for o in plan.image_objects]
    with progress.step("scan", "image repositories and policies"):
        result = run_image_objects(
            typed,
            registry_credentials=lambda repo: _credentials(secrets, by_ref[repo.ref]),
            git_source=git_source,
        )
    _record_images(cluster, typed, result)
    for ref, choice in result.choices.items():
        progress.event(f"ImagePolicy {ref}", f"chose {choice.ref}")
    for ref, commit in result.commits.items():
        progress.event(ref, f"pushed {commit.revision}")
    for ref, why in result.failures.items():
        progress.failed(ref, why)


def _record_images(cluster: Any, objects: list[Any], result: Any) -> None:
    """Each image object's status, as its controller would write it after this pass."""
    from airflow_flux_provider.images.policy import policy_key
    from airflow_flux_provider.images.status import ImageStatus
    from airflow_flux_provider.kube.record import update_status

    for obj in objects:
        if obj.ref in result.failures:
            change = partial(ImageStatus.failed, message=result.failures[obj.ref])
        elif obj.ref in result.scans:
            change = partial(ImageStatus.scanned, scan=result.scans[obj.ref])
        elif obj.kind == "ImagePolicy" and policy_key(obj) in result.choices:
            change = partial(ImageStatus.resolved, choice=result.choices[policy_key(obj)])
        elif obj.ref in result.commits:
            commit = result.commits[obj.ref]
            change = partial(ImageStatus.pushed, revision=commit.revision, branch=commit.branch)
        else:  # suspended, or an automation without a Git source to push to
            continue
        update_status(cluster, obj.to_manifest(), ImageStatus, change)


def _suspended(cluster: Any, obj: Any) -> str | None:
    """Why ``obj`` is left alone (suspended in its manifest or, by flux suspend, in the cluster)."""
    from airflow_flux_provider.kube.suspend import live_object, suspended_message

    live = live_object(cluster, obj.kind, obj.metadata.namespace, obj.metadata.name)
    return suspended_message(obj.to_manifest(), live)


class _Run:
    """One pass over the folder: sources, then Kustomizations, then HelmReleases."""

    def __init__(
        self,
        args: argparse.Namespace,
        plan: ClusterPlan,
        cluster: Any,
        variables: dict[str, str],
        secrets: dict[str, str],
        folder: Path,
        progress: Progress,
    ) -> None:
        from airflow_flux_provider.sources.artifacts import ArtifactStore

        self.args, self.plan, self.cluster, self.progress = args, plan, cluster, progress
        self.variables, self.secrets, self.folder = variables, secrets, folder
        self.store = ArtifactStore(str(folder / "artifacts"))
        #: each source that is ready, with its artifact (None: an OCI HelmRepository has none)
        self.artifacts: dict[str, Artifact | None] = {}

    # -- sources ----------------------------------------------------------------------------------
    def fetch_sources(self) -> None:
        """Fetch every source and record the outcome on its object; a failed one fails its
        dependents in turn."""
        from airflow_flux_provider.kube.record import update_status
        from airflow_flux_provider.sources.status import SourceStatus

        for source in self.plan.sources:
            manifest: dict[str, Any] | None = None
            try:
                manifest = _substituted(source, self.variables).to_manifest()
                with self.progress.step("fetch", source.ref):
                    self.artifacts[source.ref] = artifact = self._fetch(source)
            except FluxError as err:
                self.progress.failed(source.ref, str(err))
                if manifest is not None:
                    update_status(
                        self.cluster,
                        manifest,
                        SourceStatus,
                        partial(SourceStatus.failed, message=err.message),
                    )
                continue
            if artifact is not None:
                update_status(
                    self.cluster, manifest, SourceStatus, partial(SourceStatus.fetched, artifact=artifact)
                )
            if artifact is None:
                self.progress.ready(
                    source.ref, "is an OCI repository: charts are pulled for each release", line="►"
                )
            else:
                self.progress.ready(source.ref, f"fetched revision {artifact.revision}", line="►")

    def _fetch(self, source: PlannedObject) -> Artifact | None:
        from airflow_flux_provider.sources.bucket import BucketSource
        from airflow_flux_provider.sources.git import GitSource
        from airflow_flux_provider.sources.helm import HelmRepositorySource
        from airflow_flux_provider.sources.oci import OCISource

        typed, credentials = _substituted(source, self.variables), _credentials(self.secrets, source)
        if source.kind == "HelmRepository":
            if typed.spec.type == "oci":
                return None
            return HelmRepositorySource.from_spec(typed, credentials).fetch_index(self.store).artifact
        kinds: dict[str, Any] = {
            "GitRepository": GitSource,
            "Bucket": BucketSource,
            "OCIRepository": OCISource,
        }
        fetched: Fetched = kinds[source.kind].from_spec(typed, credentials).fetch(self.store)
        return fetched.artifact

    def _artifact(self, source: PlannedObject, obj: str) -> Artifact | None:
        if source.ref not in self.artifacts:
            raise FluxError(f"source {source.ref} is not ready; see its error above", obj=obj)
        return self.artifacts[source.ref]

    def _tree(self, source: PlannedObject, obj: str) -> tuple[str, Path]:
        """The revision and extracted files of a Git, Bucket or OCI source."""
        artifact = self._artifact(source, obj)
        if artifact is None:
            raise FluxError(f"{source.ref} holds no files to build from", obj=obj, field="spec.sourceRef")
        tree = self.folder / "trees" / artifact.digest.replace(":", "-")
        if not tree.exists():
            self.store.extract(artifact, tree)
        return artifact.revision, tree

    # -- Kustomizations ---------------------------------------------------------------------------
    def kustomization(self, obj: PlannedObject) -> None:
        """Build and apply one Kustomization and wait for its health checks."""
        import yaml
        from cryptography.fernet import Fernet

        from airflow_flux_provider.kube import ObjectKey
        from airflow_flux_provider.kube import health as kube_health
        from airflow_flux_provider.kube.reconcile import (
            KustomizationTarget,
            apply_and_prune,
            check_dependencies,
            finish,
        )
        from airflow_flux_provider.kustomize import RenderStore, render
        from airflow_flux_provider.specs import parse_duration

        cluster, timeout, progress = self.cluster, self.args.timeout, self.progress
        revision = ""
        try:
            ks = _substituted(obj, self.variables)
            target = KustomizationTarget.of(ks)
            started = time.monotonic()
            if suspended := _suspended(cluster, ks):
                progress.suspended(ks.ref, suspended)
                return
            revision, tree = self._tree(self.plan.source_of(obj), ks.ref)
            check_dependencies(cluster, target, {f"{d.namespace or target.namespace}/{d.name}": revision
                                                 for d in ks.spec.depends_on})  # fmt: skip
            keys = self._decryption_keys(cluster, ks)
            # Decrypted renders are sealed with a key that lives only as long as this command.
            renders = RenderStore(
                self.folder / "renders", sealer=Fernet(Fernet.generate_key()) if keys else None
            )
            with progress.step("build", ks.ref):
                rendered = render(
                    ks, str(tree), store=renders, airflow_vars=self.variables, decryption_keys=keys
                )
            objects = [doc for doc in yaml.safe_load_all(renders.text(rendered)) if doc]
            with progress.step(f"apply {len(objects)} objects of", ks.ref):
                result = apply_and_prune(cluster, target, objects, revision=revision, digest=rendered.digest)
            for change in result.changes.changes:
                progress.event(str(change.key), str(change.action))
            keys = (
                result.inventory.object_keys()
                if ks.spec.wait
                else [ObjectKey(h.api_version or "apps/v1", h.kind, h.namespace or target.namespace, h.name)
                      for h in ks.spec.health_checks]
            )  # fmt: skip
            limit = parse_duration(timeout).total_seconds() if timeout else ks.spec.timeout.total_seconds()
            with progress.step(f"wait for {len(keys)} objects of", ks.ref):
                report = kube_health.wait(cluster, keys, timeout=limit) if keys else None
            record = finish(
                cluster, target, revision=revision, health=report, duration=time.monotonic() - started
            )
            progress.ready(ks.ref, record.message)
        except FluxError as err:
            if isinstance(err, kube_health.HealthCheckError):
                finish(cluster, target, revision=revision, health=None, error=err.message)
            progress.failed(obj.ref, str(err))

    # -- HelmReleases -----------------------------------------------------------------------------
    @staticmethod
    def _decryption_keys(cluster: Any, ks: Any) -> Any:
        """``spec.decryption``: the keys of its Secret in the Kustomization's namespace (as Flux)."""
        if ks.spec.decryption is None:
            return None
        from airflow_flux_provider.kube import ObjectKey
        from airflow_flux_provider.kustomize import DecryptionError, DecryptionKeys

        ref = ks.spec.decryption.secret_ref
        if ref is None:
            raise DecryptionError(
                "spec.decryption.secretRef is not set; name the Secret holding the age identity",
                obj=ks.ref,
                field="spec.decryption.secretRef",
            )
        namespace = ks.metadata.namespace or "default"
        secret = cluster.get(ObjectKey("v1", "Secret", namespace, ref.name))
        return DecryptionKeys.from_secret(secret, obj=ks.ref, source=f"Secret {namespace}/{ref.name}")

    def helm_releases(self) -> None:
        """Every HelmRelease, each after those it ``dependsOn``."""
        if not self.plan.helm_releases:
            return
        from airflow_flux_provider.helm.cli import HelmCli

        ready: set[tuple[str, str]] = set()
        with HelmCli(self.cluster) as cli:
            for obj in _by_dependencies(self.plan.helm_releases):
                if self.helm_release(obj, cli, ready):
                    ready.add((obj.namespace, obj.name))

    def helm_release(self, obj: PlannedObject, cli: Any, ready: set[tuple[str, str]]) -> bool:
        """Install, upgrade, test or remediate one HelmRelease as helm-controller does."""
        from airflow_flux_provider.helm.release import ReleaseReconciler
        from airflow_flux_provider.helm.values import compose_values

        progress = self.progress
        try:
            hr = _substituted(obj, self.variables)
            if suspended := _suspended(self.cluster, hr):
                progress.suspended(hr.ref, suspended)
                return True
            for dep in hr.spec.depends_on:
                key = (dep.namespace or obj.namespace, dep.name)
                if key not in ready:
                    raise FluxError(
                        f"dependency HelmRelease/{key[0]}/{key[1]} is not ready",
                        obj=hr.ref,
                        field="spec.dependsOn",
                    )
            chart = self._chart(obj, hr, cli)
            selection = hr.spec.chart.spec if hr.spec.chart else None
            files = chart.values_files(
                selection.values_files if selection else [],
                ignore_missing=bool(selection and selection.ignore_missing_values_files),
                obj=hr.ref,
            )
            values = compose_values(hr, self.cluster, values_files=files)
            with progress.step("release", hr.ref):
                outcome = ReleaseReconciler(hr, chart, values, cli, self.cluster).reconcile()
        except FluxError as err:
            progress.failed(obj.ref, str(err))
            return False
        for action in outcome.actions:
            progress.event(hr.ref, action)
        for drift in outcome.drifted:
            progress.event(hr.ref, f"drift: {drift}")
        if not outcome.ready:
            progress.failed(hr.ref, outcome.message)
            return False
        progress.ready(hr.ref, outcome.message)
        return True

    def _chart(self, obj: PlannedObject, hr: Any, cli: Any) -> Any:
        """The chart to install: packaged from the release's HelmChart, or an OCIRepository's artifact."""
        from airflow_flux_provider.helm.chart import load_chart
        from airflow_flux_provider.sources.helm import HelmRepositorySource, fetch_helm_chart

        source = self.plan.chart_source_of(obj)
        planned = self.plan.chart_of(obj)
        constraint = hr.spec.chart.spec.version if hr.spec.chart else "*"
        if planned is None:
            artifact = self._artifact(source, hr.ref)
        else:
            chart = _substituted(planned, self.variables)
            repository = None
            if source.kind == "HelmRepository":
                typed = _substituted(source, self.variables)
                repository = HelmRepositorySource.from_spec(typed, _credentials(self.secrets, source))
            fetched = fetch_helm_chart(
                self.store,
                chart,
                repository=repository,
                source_artifact=None if repository else self._artifact(source, hr.ref),
            )
            artifact = fetched.artifact
            self.progress.event(chart.ref, f"packaged chart version {artifact.revision}")
        assert artifact is not None and artifact.path is not None  # a local store, a fetched source
        return load_chart(artifact.path, obj=hr.ref, constraint=constraint, cli=cli)


def _by_dependencies(releases: list[PlannedObject]) -> list[PlannedObject]:
    """HelmReleases with each one's ``dependsOn`` first (stable otherwise; a cycle keeps file order)."""
    by_key = {(r.namespace, r.name): r for r in releases}
    ordered: dict[str, PlannedObject] = {}

    def visit(release: PlannedObject, path: tuple[str, ...]) -> None:
        if release.ref in ordered or release.ref in path:
            return
        for dep in release.spec.get("dependsOn") or []:
            found = by_key.get((dep.get("namespace") or release.namespace, dep.get("name")))
            if found is not None:
                visit(found, (*path, release.ref))
        ordered[release.ref] = release

    for release in releases:
        visit(release, ())
    return list(ordered.values())
