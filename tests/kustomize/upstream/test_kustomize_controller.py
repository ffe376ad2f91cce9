"""fluxcd/kustomize-controller build-oriented tests (``internal/controller``), replayed on the render.

Each case names the upstream test it follows; the cluster part of upstream's tests (a real
apply) is covered by the reconcile tests, here only what the build produces is asserted.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from airflow_flux_provider.kustomize import RenderStore, render
from tests.kustomize.conftest import kustomization, write_tree

# testdata/patch/deployment.yaml
PATCH_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  labels:
    app: podinfo
spec:
  replicas: 1
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
      - name: podinfo
        image: podinfo
      - name: flagger
        image: ghcr.io/fluxcd/flagger
"""
FLAGGER_DIGEST = "sha256:2832f53c577d44753e97b0ed5f00e7e3a06979c9fab77d0e78bdac4b612b14fb"


def test_kustomization_transformer_inline_patches_and_images(tmp_path: Path, store: RenderStore) -> None:
    """TestKustomizationReconciler_PatchAndImages ("applies patches"): Go raw-string patches end
    in a line of tabs (the indented closing backtick), which Flux accepts."""
    source = write_tree(tmp_path / "src", {"deployment.yaml": PATCH_DEPLOYMENT})
    ks = kustomization(
        "./",
        targetNamespace="patch-ns",
        images=[
            {"name": "podinfo", "newName": "ghcr.io/stefanprodan/podinfo", "newTag": "5.2.0"},
            {"name": "ghcr.io/fluxcd/flagger", "digest": FLAGGER_DIGEST},
        ],
        patches=[
            {
                "patch": "\n- op: add\n  path: /metadata/labels/patch1\n  value: inline-json\n\t\t\t\t\t\t",
                "target": {"labelSelector": "app=podinfo"},
            },
            {
                "patch": "\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\n"
                "  labels:\n    patch2: inline-yaml\n\t\t\t\t\t\t"
            },
        ],
    )
    (deployment,) = yaml.safe_load_all(render(ks, source, store=store).read())
    assert deployment["metadata"]["labels"]["patch1"] == "inline-json"
    assert deployment["metadata"]["labels"]["patch2"] == "inline-yaml"
    assert deployment["metadata"]["namespace"] == "patch-ns"
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert "5.2.0" in containers[0]["image"]
    assert FLAGGER_DIGEST in containers[1]["image"]
