"""Kustomize post-rendering of a release's manifests: the spec's patches, images, metadata.

Helm 4 only runs post-renderers that are plugins (``type: postrenderer/v1``); Helm 3 runs an
executable. :func:`install_post_renderer` writes, in the CLI's private folders, a chain of
kustomizations and a two-line shell launcher (for Helm 4 wrapped in a plugin) that saves
helm's manifests into the chain's first folder and runs the real kustomize (``kubectl
kustomize``) once over its last. So helm itself renders, post-renders, applies and records the
release: ``helm list/history/get manifest`` stay truthful, and rollback restores patched
manifests. One kustomize process and no Python start per render: helm starts the post-renderer
for every install and upgrade, and its start-up was the largest cost a release added to helm's.

Flux's order, each layer built over the one before (as a kustomize overlay over its base):
each ``postRenderers[].kustomize`` in list order, then ``commonMetadata`` and the origin labels
``helm.toolkit.fluxcd.io/name|namespace`` (which win on a key collision), set on each object's
own metadata with the builtin transformers and field specs helm-controller uses. The target
namespace, when helm stores the release elsewhere, is set in that last layer.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_flux_provider.helm.cli import HelmCli

PLUGIN_NAME = "flux-post-render"
_INPUT = "helm-output"  # the chain's first folder; the launcher writes helm's manifests into it
_LAST = "metadata"
_ERRORS = "kustomize-error.txt"  # helm 4 drops a plugin's stderr, so the launcher keeps it here
_LAYER = re.compile(r"recursed accumulation of path '[^']*/([^'/]+)': ")


@dataclass(frozen=True)
class PostRenderer:
    """One release's kustomization chain and the helm flags that run it."""

    folder: Path
    flags: list[str]

    def error(self) -> str:
        """Why the last render failed, as kustomize said it of the innermost failing layer
        (``postRenderers[1]: error in remove for path ...``); empty when it did not fail."""
        try:
            text = (self.folder / _ERRORS).read_text().strip().removeprefix("error: ")
        except FileNotFoundError:
            return ""
        layers = list(_LAYER.finditer(text))
        if not layers:
            return text
        layer = layers[-1][1]
        where = f"postRenderers[{layer.rpartition('-')[2]}]" if layer.startswith("postRenderers-") else layer
        return f"{where}: {text[layers[-1].end() :]}"


def post_renderers_digest(hr: Any) -> str:
    """Flux's ``observedPostRenderersDigest``: a change triggers an upgrade."""
    data = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in hr.spec.post_renderers]
    common = hr.spec.common_metadata
    data.append(common.model_dump(mode="json", by_alias=True) if common else {})
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _transformers(hr: Any) -> list[dict[str, Any]]:
    """commonMetadata's labels and annotations, then the origin labels: builtin transformers on each
    object's own metadata only (not pod templates or selectors), as helm-controller's."""
    common = hr.spec.common_metadata
    origin = {
        "helm.toolkit.fluxcd.io/name": hr.metadata.name,
        "helm.toolkit.fluxcd.io/namespace": hr.metadata.namespace,
    }
    wanted = [
        ("LabelTransformer", "labels", dict(common.labels) if common else {}),
        ("AnnotationsTransformer", "annotations", dict(common.annotations) if common else {}),
        ("LabelTransformer", "labels", origin),
    ]
    return [
        {"apiVersion": "builtin", "kind": kind, "metadata": {"name": f"transformer-{index}"}, field: values,
         "fieldSpecs": [{"path": f"metadata/{field}", "create": True}]}
        for index, (kind, field, values) in enumerate(wanted) if values
    ]  # fmt: skip


def _kustomization(folder: Path, body: dict[str, Any]) -> None:
    folder.mkdir()
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **body}
    (folder / "kustomization.yaml").write_text(json.dumps(kustomization))  # JSON is YAML, as Flux writes it


def _write_chain(hr: Any, root: Path, *, namespace: str | None) -> Path:
    """The kustomization chain under ``root`` (replaced): helm's output, each post-renderer, metadata."""
    shutil.rmtree(root, ignore_errors=True)  # an earlier action's chain (and error) in this reconcile
    root.mkdir()
    _kustomization(root / _INPUT, {"resources": [f"{_INPUT}.yaml"]})
    previous = _INPUT
    for index, renderer in enumerate(hr.spec.post_renderers):
        if renderer.kustomize is None:
            continue
        layer = renderer.kustomize.model_dump(mode="json", by_alias=True, exclude_none=True)
        body = {key: layer[key] for key in ("patches", "images") if layer.get(key)}
        _kustomization(root / f"postRenderers-{index}", {"resources": [f"../{previous}"], **body})
        previous = f"postRenderers-{index}"
    transformers = _transformers(hr)
    names = [f"{t['metadata']['name']}.yaml" for t in transformers]
    _kustomization(
        root / _LAST,
        {
            "resources": [f"../{previous}"],
            "transformers": names,
            **({"namespace": namespace} if namespace else {}),
        },
    )
    for name, transformer in zip(names, transformers, strict=True):
        (root / _LAST / name).write_text(json.dumps(transformer))
    return root


def install_post_renderer(hr: Any, cli: HelmCli, *, kubectl: str, namespace: str | None) -> PostRenderer:
    """Write the chain, the launcher (and Helm 4 plugin); return them with helm's flags."""
    chain = _write_chain(hr, cli.work_dir / "post-render", namespace=namespace)
    launcher = cli.work_dir / "flux-post-render.sh"
    launcher.write_text(
        "#!/bin/sh\n"
        f'cat > "$1/{_INPUT}/{_INPUT}.yaml" || exit 1\n'
        f'{shlex.quote(kubectl)} kustomize -- "$1/{_LAST}" 2> "$1/{_ERRORS}" || exit 1\n'
        "echo ---\n"  # helm 4 refuses an empty output, even of a chart that renders no objects
    )
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    renderer = str(launcher)
    if cli.major_version >= 4:
        plugin = cli.plugins_dir / PLUGIN_NAME
        plugin.mkdir(parents=True, exist_ok=True)
        manifest = {
            "apiVersion": "v1", "type": "postrenderer/v1", "name": PLUGIN_NAME, "version": "0.1.0",
            "runtime": "subprocess", "runtimeConfig": {"platformCommand": [{"command": str(launcher)}]},
        }  # fmt: skip
        (plugin / "plugin.yaml").write_text(json.dumps(manifest))
        renderer = PLUGIN_NAME
    return PostRenderer(chain, ["--post-renderer", renderer, "--post-renderer-args", str(chain)])
