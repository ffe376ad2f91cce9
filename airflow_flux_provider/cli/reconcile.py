"""``reconcile``: what ``flux reconcile`` does for a whole cluster folder, without a scheduler.

    python -m airflow_flux_provider reconcile -f clusters/production [--kubeconfig K]
        [--var NAME=VALUE …] [--secret NAME=USER:PASSWORD …] [--timeout 5m]

Image automation objects run first (scan, policy, commit and push when a source is
given), then every GitRepository is fetched, and each Kustomization is built and
reconciled in ``dependsOn`` order; its change set and Ready status are printed. ``${VAR}``
placeholders in the folder's manifests (``postBuild.substitute`` values included) come from
``--var`` and then the environment, filled once as a parent Kustomization would.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_flux_provider.cluster_plan import ClusterPlan, PlannedObject, plan_folder
from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.errors import FluxError


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
    with tempfile.TemporaryDirectory(prefix="flux-reconcile-") as tmp:
        store_dir = args.artifacts or Path(tmp)
        _images(plan, variables, secrets)
        sources = _fetch_sources(plan, variables, secrets, store_dir)
        failed = 0
        for release in plan.helm_releases:
            print(f"► {release.ref} skipped: HelmReleases run through HelmReleaseOperator, not this CLI")
        for ks in plan.kustomizations:
            failed += not _reconcile(cluster, plan, ks, variables, sources, store_dir, args.timeout)
    return 1 if failed else 0


def _images(plan: ClusterPlan, variables: dict[str, str], secrets: dict[str, str]) -> None:
    """Scan, choose and, for an ImageUpdateAutomation, commit and push the new tags."""
    if not plan.image_objects:
        return
    from airflow_flux_provider.images.automation import run_image_objects

    by_ref = {o.ref: o for o in plan.image_objects}

    def git_source(automation: Any) -> tuple[str, Credentials]:
        source = plan.source_of(by_ref[automation.ref])
        return str(_substituted(source, variables).spec.url), _credentials(secrets, source)

    result = run_image_objects(
        [_substituted(o, variables) for o in plan.image_objects],
        registry_credentials=lambda repo: _credentials(secrets, by_ref[repo.ref]),
        git_source=git_source,
    )
    for ref, choice in result.choices.items():
        print(f"► ImagePolicy {ref} chose {choice.ref}")
    for ref, commit in result.commits.items():
        print(f"► {ref} pushed {commit.revision}")
    for ref, why in result.failures.items():
        print(f"✗ {ref}: {why}", file=sys.stderr)


def _fetch_sources(
    plan: ClusterPlan, variables: dict[str, str], secrets: dict[str, str], store_dir: Path
) -> dict[str, tuple[str, Path]]:
    """Each GitRepository's revision and extracted tree."""
    from airflow_flux_provider.sources.artifacts import ArtifactStore
    from airflow_flux_provider.sources.git import GitSource

    store = ArtifactStore(str(store_dir / "artifacts"))
    fetched = {}
    for source in plan.sources:
        if source.kind != "GitRepository":
            raise FluxError(
                f"the reconcile CLI fetches GitRepository sources only, not {source.kind}", obj=source.ref
            )
        result = GitSource.from_spec(_substituted(source, variables), _credentials(secrets, source)).fetch(
            store
        )
        tree = store_dir / "trees" / result.artifact.digest.replace(":", "-")
        if not tree.exists():
            store.extract(result.artifact, tree)
        print(f"► {source.ref} fetched revision {result.artifact.revision}")
        fetched[source.ref] = (result.artifact.revision, tree)
    return fetched


def _reconcile(
    cluster: Any,
    plan: ClusterPlan,
    obj: PlannedObject,
    variables: dict[str, str],
    sources: dict[str, tuple[str, Path]],
    store_dir: Path,
    timeout: str,
) -> bool:
    """Build and apply one Kustomization, wait for its health checks; ``False`` when it failed."""
    import yaml

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

    ks = _substituted(obj, variables)
    revision, tree = sources[plan.source_of(obj).ref]
    target = KustomizationTarget.of(ks)
    started = time.monotonic()
    try:
        if ks.spec.suspend:
            print(f"► {ks.ref} suspended")
            return True
        check_dependencies(cluster, target, {f"{d.namespace or target.namespace}/{d.name}": revision
                                             for d in ks.spec.depends_on})  # fmt: skip
        rendered = render(ks, str(tree), store=RenderStore(store_dir / "renders"), airflow_vars=variables)
        objects = [doc for doc in yaml.safe_load_all(rendered.read()) if doc]
        result = apply_and_prune(cluster, target, objects, revision=revision, digest=rendered.digest)
        for change in result.changes.changes:
            print(f"► {change}")
        keys = (
            result.inventory.object_keys()
            if ks.spec.wait
            else [ObjectKey(h.api_version or "apps/v1", h.kind, h.namespace or target.namespace, h.name)
                  for h in ks.spec.health_checks]
        )  # fmt: skip
        limit = parse_duration(timeout).total_seconds() if timeout else ks.spec.timeout.total_seconds()
        report = kube_health.wait(cluster, keys, timeout=limit) if keys else None
        record = finish(
            cluster, target, revision=revision, health=report, duration=time.monotonic() - started
        )
        print(f"✔ {ks.ref} Ready: {record.message}")
        return True
    except FluxError as err:
        if isinstance(err, kube_health.HealthCheckError):
            finish(cluster, target, revision=revision, health=None, error=err.message)
        print(f"✗ {ks.ref} not Ready: {err}", file=sys.stderr)
        return False
