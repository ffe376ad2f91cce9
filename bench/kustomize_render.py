"""What a Flux-faithful render costs over bare ``kubectl kustomize``, and what a cached re-render costs.

Writes an overlay of N objects (Deployments, Services and ConfigMaps with ``${VAR}``
expressions, a base and an overlay with patches, images and a namePrefix) and times, in
the same run:

- ``kubectl kustomize`` on the overlay (baseline);
- ``render`` of the same overlay with postBuild substitution, uncached (same kustomize
  work as the baseline: the goal is <= 1.2x), and with Flux's spec layers added
  (targetNamespace, namePrefix, images: more kustomize transformers, reported only);
- a cached re-render given the source digest (what a retried task costs), and one that
  hashes the folder to find its digest.

Run: .venv/bin/python bench/kustomize_render.py [--objects N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from airflow_flux_provider.kustomize import RenderStore, kustomize_version, render, tree_digest
from airflow_flux_provider.specs import Kustomization, parse_object
from airflow_flux_provider.tools import kubectl_path

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  labels: {{app: app-{i}}}
spec:
  replicas: ${{REPLICAS:=2}}
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}}}
    spec:
      containers:
      - name: app
        image: ghcr.io/org/app:1.0.0
        env:
        - {{name: CLUSTER, value: "${{CLUSTER_NAME}}"}}
        - {{name: REGION, value: "${{REGION}}"}}
---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
spec:
  selector: {{app: app-{i}}}
  ports:
  - port: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}
data:
  cluster: ${{CLUSTER_NAME}}
  plain: "no variables here"
"""


def write_overlay(root: Path, objects: int) -> None:
    base = root / "base"
    base.mkdir(parents=True)
    files = []
    for i in range(objects // 3):
        (base / f"app-{i}.yaml").write_text(DEPLOY.format(i=i), encoding="utf-8")
        files.append(f"app-{i}.yaml")
    (base / "kustomization.yaml").write_text(
        "resources:\n" + "".join(f"- {f}\n" for f in files), encoding="utf-8"
    )
    overlay = root / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../base]\ncommonLabels: {env: prod}\n"
        'patches:\n- patch: \'[{"op": "replace", "path": "/spec/replicas", "value": 3}]\'\n'
        "  target: {kind: Deployment}\n",
        encoding="utf-8",
    )


def spec(*, layers: bool) -> Kustomization:
    """postBuild only (kustomize does the same work as bare), or with Flux's spec layers too."""
    extra = {
        "targetNamespace": "prod",
        "namePrefix": "p-",
        "images": [{"name": "ghcr.io/org/app", "newTag": "2.0.0"}],
    }
    obj = parse_object(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "bench", "namespace": "flux-system"},
            "spec": {
                "interval": "10m",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "path": "./overlay",
                **(extra if layers else {}),
                "postBuild": {"substitute": {"CLUSTER_NAME": "prod-1", "REGION": "eu-west-1"}},
            },
        }
    )
    assert isinstance(obj, Kustomization)
    return obj


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kubectl = kubectl_path()
    ks, layered = spec(layers=False), spec(layers=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        write_overlay(root, args.objects)
        digest = tree_digest(root)

        def bare() -> None:
            subprocess.run([kubectl, "kustomize", str(root / "overlay")], capture_output=True, check=True)

        counter = iter(range(10**6))

        def uncached(obj: Kustomization) -> Callable[[], object]:
            return lambda: render(
                obj, root, store=RenderStore(Path(tmp) / f"s-{next(counter)}"), source_digest=digest
            )

        shared = RenderStore(Path(tmp) / "shared")
        first = render(ks, root, store=shared, source_digest=digest)
        baseline = timed(bare, args.repeat)
        full = timed(uncached(ks), args.repeat)
        with_layers = timed(uncached(layered), args.repeat)
        cached = timed(lambda: render(ks, root, store=shared, source_digest=digest), args.repeat * 4)
        hashed = timed(lambda: render(ks, root, store=shared), args.repeat)

    base_ms = statistics.median(baseline) * 1000
    rows = [
        ("kubectl kustomize (baseline)", baseline, "", ""),
        (
            "render + substitute, uncached",
            full,
            f"x{statistics.median(full) * 1000 / base_ms:.2f}",
            "<= x1.20",
        ),
        (
            "render with spec layers (+kustomize work)",
            with_layers,
            f"x{statistics.median(with_layers) * 1000 / base_ms:.2f}",
            "",
        ),
        ("cached re-render (digest given)", cached, "", "<= 50 ms"),
        ("cached re-render (folder hashed)", hashed, "", ""),
    ]
    print(f"kustomize {kustomize_version()}; {first.objects} objects rendered {first.kinds}")
    print(f"{'case':42} {'median ms':>10} {'min ms':>8} {'vs bare':>8}  goal")
    for name, samples, ratio, goal in rows:
        print(
            f"{name:42} {statistics.median(samples) * 1000:10.1f} "
            f"{min(samples) * 1000:8.1f} {ratio:>8}  {goal}"
        )


if __name__ == "__main__":
    main()
