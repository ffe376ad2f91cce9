"""Kustomize post-rendering of a release's manifests: the spec's patches, images, metadata.

Helm 4 only runs post-renderers that are plugins (``type: postrenderer/v1``); Helm 3 runs an
executable. :func:`install_post_renderer` writes one small launcher script and, for Helm 4, a
plugin folder around it in the CLI's private ``HELM_PLUGINS``; helm passes the path of our
JSON config with ``--post-renderer-args``. So helm itself renders, post-renders, applies and
records the release: ``helm list/history/get manifest`` stay truthful, and rollback restores
patched manifests. The post-render step (``python -m airflow_flux_provider.helm.postrender
CONFIG``) reads the manifests on stdin, runs the real kustomize (``kubectl kustomize``) once
per post-renderer with its patches and images (the target namespace, when helm stores the
release elsewhere, joins the last run), sets the labels and annotations itself (no kustomize
run when there is nothing to patch) and writes the result to stdout.

Flux's order: each ``postRenderers[].kustomize`` in list order, then ``commonMetadata``, then
the origin labels ``helm.toolkit.fluxcd.io/name|namespace`` (which win on a key collision).
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

PLUGIN_NAME = "flux-post-render"


def post_render_config(hr: Any, *, kubectl: str, namespace: str | None) -> dict[str, Any]:
    """The JSON the post-render step reads: one kustomize layer per post-renderer, then labels."""
    layers = []
    for renderer in hr.spec.post_renderers:
        if renderer.kustomize is None:
            continue
        dumped = renderer.kustomize.model_dump(mode="json", by_alias=True, exclude_none=True)
        layers.append({"patches": dumped.get("patches", []), "images": dumped.get("images", [])})
    common = hr.spec.common_metadata
    labels = dict(common.labels) if common else {}
    labels.update({
        "helm.toolkit.fluxcd.io/name": hr.metadata.name,
        "helm.toolkit.fluxcd.io/namespace": hr.metadata.namespace,
    })  # fmt: skip
    return {
        "kubectl": kubectl,
        "layers": layers,
        "labels": labels,
        "annotations": dict(common.annotations) if common else {},
        "namespace": namespace,
    }


def post_renderers_digest(hr: Any) -> str:
    """Flux's ``observedPostRenderersDigest``: a change triggers an upgrade."""
    data = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in hr.spec.post_renderers]
    common = hr.spec.common_metadata
    data.append(common.model_dump(mode="json", by_alias=True) if common else {})
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def install_post_renderer(plugins_dir: Path, work_dir: Path, major_version: int) -> str:
    """Write the launcher (and Helm 4 plugin); return the ``--post-renderer`` argument."""
    launcher = work_dir / "flux-post-render.sh"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m airflow_flux_provider.helm.postrender "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    if major_version < 4:
        return str(launcher)
    plugin = plugins_dir / PLUGIN_NAME
    plugin.mkdir(parents=True, exist_ok=True)
    (plugin / "plugin.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "type": "postrenderer/v1",
                "name": PLUGIN_NAME,
                "version": "0.1.0",
                "runtime": "subprocess",
                "runtimeConfig": {"platformCommand": [{"command": str(launcher)}]},
            }
        )
    )
    return PLUGIN_NAME


def _layer(folder: Path, resources: str, layer: dict[str, Any]) -> None:
    folder.mkdir()
    (folder / "resources.yaml").write_text(resources)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["resources.yaml"],
        **{k: v for k, v in layer.items() if v},
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))


def _kustomize(manifests: str, layers: list[dict[str, Any]], kubectl: str) -> str:
    with tempfile.TemporaryDirectory(prefix="flux-post-render-") as tmp:
        for index, layer in enumerate(layers):
            folder = Path(tmp) / f"layer{index}"
            _layer(folder, manifests, layer)
            done = subprocess.run(
                [kubectl, "kustomize", "--", str(folder)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"postRenderers[{index}]: kustomize failed: {done.stderr.strip()}")
            manifests = done.stdout
    return manifests


def _with_metadata(manifests: str, labels: dict[str, str], annotations: dict[str, str]) -> str:
    """commonMetadata, then the origin labels (which win), on every object, as Flux's last renderers."""
    docs = [d for d in yaml.safe_load_all(manifests) if isinstance(d, dict)]
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if annotations:
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
    return yaml.safe_dump_all(docs, sort_keys=False)


def render(manifests: str, config: dict[str, Any]) -> str:
    """Each kustomize layer with the real kustomize (the target namespace joins the last), then metadata."""
    if not manifests.strip():
        return manifests
    layers = [dict(layer) for layer in config["layers"]]
    if config.get("namespace"):
        if not layers:
            layers.append({})
        layers[-1]["namespace"] = config["namespace"]
    if layers:
        manifests = _kustomize(manifests, layers, config["kubectl"])
    return _with_metadata(manifests, config["labels"], config.get("annotations") or {})


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m airflow_flux_provider.helm.postrender CONFIG.json", file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text())
    try:
        sys.stdout.write(render(sys.stdin.read(), config))
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
