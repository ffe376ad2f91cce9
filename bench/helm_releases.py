"""HelmRelease MTTP: N releases of a small local chart into the sandbox, wall time and peak memory.

Flux's helm-controller benchmark (mean time to production) publishes 27 s for 100 HelmReleases
and 8m12s for 1,000. Baseline in the same run: plain ``helm install --wait`` of the same chart
and count, with the same concurrency. Our side installs each chart twice over, as a release
without post-renderers (the same objects as plain helm, plus the origin labels, as in Flux's
benchmark) and as one with a kustomize patch post-renderer (a ``kubectl kustomize`` run per
install). The three sides alternate in rounds of ``--round`` releases so all see the same load
on a shared machine. The ratios show what our layer (values composition, post-render, status
record, storage reads, events) costs on top of helm itself. The Flux CRDs are installed first,
so each status lives on its HelmRelease object as in a Flux cluster. Then a no-op pass over the
releases without post-renderers (must run zero upgrades), and one more with
``driftDetection.mode: warn`` (a forced server-side dry-run of every release object) to show
what drift detection adds to a no-op reconcile. Peak memory is the max RSS of this process and
of the largest child (helm, kustomize); the load average before and after says how busy the
shared machine was.

Run: .venv/bin/python bench/helm_releases.py [--releases N] [--workers W] [--round R]
     [--skip-baseline] [--skip-patched]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airflow_flux_provider.helm.chart import load_chart
from airflow_flux_provider.helm.cli import HelmCli
from airflow_flux_provider.helm.release import ReleaseOutcome, ReleaseReconciler
from airflow_flux_provider.helm.state import Action
from airflow_flux_provider.helm.values import compose_values
from airflow_flux_provider.kube import Cluster
from airflow_flux_provider.kube.objects import install_crds
from airflow_flux_provider.specs import HelmRelease, parse_object
from airflow_flux_provider.tools import helm_path
from flux_devkit.sandbox import Sandbox

FLUX_PUBLISHED_SECONDS = {100: 27.0, 1000: 492.0}  # helm-controller's MTTP: 27 s, 8m12s
TEMPLATE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers: [{name: app, image: {{ .Values.image }}}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  message: {{ .Values.message | quote }}
"""


def write_chart(root: Path) -> Path:
    chart = root / "bench"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bench\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("image: nginx:1.27\nmessage: hello\n")
    (chart / "templates" / "app.yaml").write_text(TEMPLATE)
    return chart


PATCH = {"kustomize": {"patches": [{
    "target": {"kind": "Deployment"},
    "patch": "- op: add\n  path: /metadata/annotations\n  value: {bench: 'true'}\n",
}]}}  # fmt: skip


def helm_release(name: str, namespace: str, *, drift: bool = False, patch: bool = False) -> HelmRelease:
    detection = {"driftDetection": {"mode": "warn"}} if drift else {}
    hr = parse_object({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m", "timeout": "120s", "values": {"message": name},
            "chart": {"spec": {"chart": "bench", "sourceRef": {"kind": "HelmRepository", "name": "bench"}}},
            "postRenderers": [PATCH] if patch else [],
            **detection,
        },
    })  # fmt: skip
    assert isinstance(hr, HelmRelease)
    return hr


def reconcile_one(
    name: str, namespace: str, chart: Path, kubeconfig: str, *, drift: bool = False, patch: bool = False
) -> ReleaseOutcome:
    hr = helm_release(name, namespace, drift=drift, patch=patch)
    cluster = Cluster.from_kubeconfig(kubeconfig)
    with HelmCli(cluster) as cli:
        loaded = load_chart(chart, obj=hr.ref)
        values = compose_values(hr, cluster)
        return ReleaseReconciler(hr, loaded, values, cli, cluster, emit=lambda _event: None).reconcile()


def plain_install(name: str, namespace: str, chart: Path, kubeconfig: str, home: Path) -> None:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}  # fmt: skip
    subprocess.run(
        [helm_path(), "install", name, str(chart), "-n", namespace, "--set", f"message={name}",
         "--wait", "--timeout", "120s", "--kubeconfig", kubeconfig],
        check=True, capture_output=True, env=env,
    )  # fmt: skip


def timed(workers: int, jobs: Sequence[str], fn: Callable[[str], object]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, jobs))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--round", type=int, default=10, help="releases per round of each side")
    parser.add_argument("--skip-baseline", action="store_true", help="ours only (for N where both take long)")
    parser.add_argument("--skip-patched", action="store_true", help="no releases with a kustomize patch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-helm-") as tmp:
        root = Path(tmp)
        chart = write_chart(root)
        sandbox = Sandbox(root / "sandbox").start(child_process=True)
        try:
            kubeconfig = str(sandbox.kubeconfig)
            for ns in ("plain", "flux", "patched"):
                sandbox.kubectl("create", "namespace", ns)
            install_crds(Cluster.from_kubeconfig(kubeconfig))
            load_before = os.getloadavg()
            names = [f"app{i:03d}" for i in range(args.releases)]
            home = root / "helm-home"
            outcomes: list[ReleaseOutcome] = []
            baseline = ours = patched = 0.0
            for start in range(0, len(names), args.round):  # both sides see the same load
                chunk = names[start : start + args.round]
                if not args.skip_baseline:
                    baseline += timed(
                        args.workers, chunk, lambda n: plain_install(n, "plain", chart, kubeconfig, home)
                    )
                ours += timed(
                    args.workers,
                    chunk,
                    lambda n: outcomes.append(reconcile_one(n, "flux", chart, kubeconfig)),
                )
                if not args.skip_patched:
                    patched += timed(
                        args.workers,
                        chunk,
                        lambda n: outcomes.append(reconcile_one(n, "patched", chart, kubeconfig, patch=True)),
                    )
            failed = [o.message for o in outcomes if not o.ready]
            noops: list[ReleaseOutcome] = []
            noop = timed(
                args.workers, names, lambda n: noops.append(reconcile_one(n, "flux", chart, kubeconfig))
            )
            upgrades = sum(o.count(Action.UPGRADE) for o in noops)
            checked: list[ReleaseOutcome] = []
            drift = timed(
                args.workers,
                names,
                lambda n: checked.append(reconcile_one(n, "flux", chart, kubeconfig, drift=True)),
            )
            drifted = sum(len(o.drifted) for o in checked)
            listed = [
                release
                for ns in ("flux", "patched")
                for release in json.loads(sandbox.helm("list", "-n", ns, "-o", "json", "--max", "0").stdout)
            ]
            load_after = os.getloadavg()
        finally:
            sandbox.stop()
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"releases: {args.releases}, workers: {args.workers}, failed: {len(failed)}")
    print("load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(
        *load_before, *load_after))  # fmt: skip
    flux = FLUX_PUBLISHED_SECONDS.get(args.releases)
    if baseline:
        print(f"plain helm install --wait (baseline): {baseline:6.1f} s")
    for label, took in (("ours", ours), ("ours, kustomize patch", patched))[: 1 if args.skip_patched else 2]:
        against = [f"ratio {took / baseline:.2f}x baseline"] if baseline else []
        against += [f"{took / flux:.2f}x Flux {flux:.0f} s"] if flux else []
        print(f"HelmRelease reconcile ({label}):".ljust(38) + f"{took:6.1f} s  {', '.join(against)}")
    print(f"no-op reconcile of all releases:     {noop:6.1f} s  upgrades run: {upgrades}")
    print(f"no-op with drift detection (warn):   {drift:6.1f} s  {drift / noop:.2f}x the no-op, "
          f"drifted objects: {drifted}")  # fmt: skip
    print(f"helm list shows {len(listed)} deployed releases")
    print(f"peak RSS: this process {self_mb:.0f} MB, largest child {child_mb:.0f} MB")
    if failed:
        print("first failure:", failed[0])


if __name__ == "__main__":
    main()
