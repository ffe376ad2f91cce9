"""A reconcile storm: one commit to one app's folder, 200 Kustomizations on that Git source.

A repository of N apps (``apps/app-<i>``: a Deployment scaled to zero, a Service and a
ConfigMap generated from a file every app shares) is served by the local Git server and
fetched as a GitRepository. N Kustomizations (``path: ./apps/app-<i>``) are rendered and
applied into the sandbox (its own process) at the first commit; then a commit changes
app 7's image and every Kustomization reconciles the new revision, twice in the same run:

* skip: as the operators do, the render keyed by the files each Kustomization reads and the
  apply given the render digest, which the last successful apply recorded in status.history;
* storm: what happens without the skip (and in Flux): every Kustomization renders again (an
  empty render store) and dry-runs every object (no digest).

Reported per case: wall time to converge on the new revision, kustomize runs, writes to
objects, status writes, dry-run requests. Health waits are left out of both.

    .venv/bin/python bench/reconcile_storm.py [--apps 200]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_flux_provider.credentials import Credentials  # noqa: E402
from airflow_flux_provider.kube import Cluster  # noqa: E402
from airflow_flux_provider.kube.objects import install_crds  # noqa: E402
from airflow_flux_provider.kube.reconcile import KustomizationTarget, apply_and_prune, finish  # noqa: E402
from airflow_flux_provider.kustomize import RenderStore, render  # noqa: E402
from airflow_flux_provider.sources.artifacts import Artifact, ArtifactStore  # noqa: E402
from airflow_flux_provider.sources.git import GitRef, GitSource  # noqa: E402
from airflow_flux_provider.specs import Kustomization, parse_object  # noqa: E402
from flux_devkit.sandbox import Sandbox  # noqa: E402
from flux_devkit.services.git_http import GitServer  # noqa: E402


def app_files(index: int, tag: str = "6.7.1") -> dict[str, str | bytes]:
    name = f"app-{index}"
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": f"ghcr.io/stefanprodan/podinfo:{tag}"}]},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 9898}]},
    }
    kustomization = {
        "resources": ["deploy.yaml", "service.yaml"],
        "configMapGenerator": [{"name": f"{name}-logging", "files": ["../../shared/logging.conf"]}],
    }
    folder = f"apps/{name}"
    return {
        f"{folder}/deploy.yaml": yaml.safe_dump(deploy),
        f"{folder}/service.yaml": yaml.safe_dump(service),
        f"{folder}/kustomization.yaml": yaml.safe_dump(kustomization),
    }


def kustomization(index: int, namespace: str) -> Kustomization:
    manifest = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"app-{index}", "namespace": namespace},
        "spec": {
            "interval": "10m",
            "prune": True,
            "path": f"./apps/app-{index}",
            "targetNamespace": namespace,
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
        },
    }
    obj = parse_object(manifest)
    assert isinstance(obj, Kustomization)
    return obj


@dataclass
class Pass:
    seconds: float
    kustomize_runs: int
    skipped: int
    object_writes: int
    status_writes: int
    dry_runs: int


def reconcile_all(
    sandbox: Sandbox, cluster: Cluster, kss: list[Kustomization], folder: Path, artifact: Artifact, *,
    store: RenderStore, skip: bool,
) -> Pass:  # fmt: skip
    """Render and apply every Kustomization at ``artifact``; counts from the sandbox."""
    sandbox.counters.reset()
    runs = skipped = 0
    start = time.perf_counter()
    for ks in kss:
        rendered = render(ks, folder, store=store, source_digest=artifact.digest)
        runs += not rendered.cached
        target = KustomizationTarget.of(ks)
        objects = [doc for doc in yaml.safe_load_all(rendered.read()) if doc]
        digest = rendered.digest if skip else ""
        result = apply_and_prune(cluster, target, objects, revision=artifact.revision, digest=digest)
        skipped += result.skipped
        finish(cluster, target, revision=artifact.revision, health=None)
    seconds = time.perf_counter() - start
    counts = sandbox.counters.snapshot()
    writes = {r: n for r, n in counts["mutatingByResource"].items() if r != "leases"}  # runs take turns
    status = sum(n for resource, n in writes.items() if resource.endswith("/status"))
    requests = {k: n for k, n in counts["requests"].items() if not k.endswith((" leases", "/status"))}
    writing = sum(n for key, n in requests.items() if key.startswith(("patch ", "create ", "update ")))
    objects_written = sum(writes.values()) - status
    return Pass(seconds, runs, skipped, objects_written, status, writing - objects_written)


def main() -> None:
    logging.getLogger("airflow_flux_provider").setLevel(logging.WARNING)  # an event per Kustomization
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=200)
    size = parser.parse_args().apps
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp_name:
        tmp = Path(tmp_name)
        server = GitServer(tmp / "repos", "bench", "bench-pass", tmp / "git.log")
        sandbox = Sandbox(tmp / "sandbox").start(child_process=True)
        try:
            cluster = Cluster.from_kubeconfig(str(sandbox.kubeconfig))
            install_crds(cluster)
            files: dict[str, str | bytes] = {"shared/logging.conf": "level=info\n"}
            for index in range(size):
                files.update(app_files(index))
            server.create_repo("fleet")
            server.commit("fleet", files, message="fleet")
            source = GitSource(
                server.repo_url("fleet"),
                obj="GitRepository/flux-system/fleet",
                ref=GitRef(branch="main"),
                credentials=Credentials(username=server.username, password=server.password),
                cache_dir=tmp / "git-cache",
            )
            artifacts = ArtifactStore(str(tmp / "artifacts"))

            def fetch() -> tuple[Path, Artifact]:
                artifact = source.fetch(artifacts).artifact
                folder = artifacts.extract(artifact, tmp / "src" / artifact.digest.replace(":", "-"))
                return folder, artifact

            first = fetch()
            cases = {"skip": True, "storm": False}
            sets = {case: [kustomization(i, f"storm-{case}") for i in range(size)] for case in cases}
            stores = {case: RenderStore(tmp / f"renders-{case}") for case in cases}
            for case in cases:
                cluster.create(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"storm-{case}"}}
                )
                initial = reconcile_all(sandbox, cluster, sets[case], *first, store=stores[case], skip=True)
                print(f"{case}: first revision converged in {initial.seconds:.1f} s")
            server.commit("fleet", app_files(7, tag="6.7.2"), message="app-7: podinfo 6.7.2")
            second = fetch()
            print(f"{size} Kustomizations, one commit changing apps/app-7 ({second[1].revision})")
            print(f"{'case':<7}{'converge s':>11}{'kustomize':>10}{'skipped':>8}{'obj writes':>11}", end="")
            print(f"{'status wr':>10}{'dry-runs':>9}")
            results = {}
            for case, skip in cases.items():
                store = stores[case] if skip else RenderStore(tmp / "renders-empty")
                results[case] = run = reconcile_all(
                    sandbox, cluster, sets[case], *second, store=store, skip=skip
                )
                print(f"{case:<7}{run.seconds:>11.2f}{run.kustomize_runs:>10}{run.skipped:>8}", end="")
                print(f"{run.object_writes:>11}{run.status_writes:>10}{run.dry_runs:>9}")
            ratio = results["skip"].seconds / results["storm"].seconds
            print(f"skip / storm: {ratio:.2f} of the time")
        finally:
            sandbox.stop()
            server.stop()


if __name__ == "__main__":
    main()
