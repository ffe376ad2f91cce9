"""Post-rendering of a release's manifests: the spec's kustomize layers, commonMetadata, origin labels.

Helm 4 only runs post-renderers that are plugins (``type: postrenderer/v1``); Helm 3 runs an
executable. :func:`install_post_renderer` makes two named pipes in the CLI's private folder;
a shell launcher (for Helm 4 wrapped in a plugin, both the same for every release, so shared
by this user's processes) only passes helm's manifests to this process through them and the
result back. :class:`PostRenderer`, entered around the helm command,
serves it from a thread: a release without kustomize layers or target namespace gets its
metadata set in process (:func:`~airflow_flux_provider.helm.metadata.stamp`, which declines
whatever it cannot do exactly as kustomize); every other render runs the real kustomize
(``kubectl kustomize``) once over a chain of kustomizations. So helm itself renders,
post-renders, applies and records the release: ``helm list/history/get manifest`` stay
truthful, and rollback restores patched manifests. Helm starts the post-renderer for every
install and upgrade, and a process start (kustomize's above all) was the largest cost a release
added to helm's.

Flux's order, each layer built over the one before (as a kustomize overlay over its base):
each ``postRenderers[].kustomize`` in list order, then ``commonMetadata`` and the origin labels
``helm.toolkit.fluxcd.io/name|namespace`` (which win on a key collision), set on each object's
own metadata with the builtin transformers and field specs helm-controller uses. The target
namespace, when helm stores the release elsewhere, is set in that last layer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_flux_provider.helm.metadata import stamp

if TYPE_CHECKING:
    from airflow_flux_provider.helm.cli import HelmCli

PLUGIN_NAME = "flux-post-render"
_INPUT = "helm-output"  # the chain's first folder; helm's manifests are written into it
_LAST = "metadata"
_LAYER = re.compile(r"recursed accumulation of path '[^']*/([^'/]+)': ")
_POKE_SECONDS = 0.05
LAUNCHER = """#!/bin/sh
cat > "$1/in" || exit 1
{ read -r status && [ "$status" = ok ] && cat; } < "$1/out" || exit 1
echo ---
"""  # helm 4 refuses an empty output (echo ---), even of a chart that renders no objects


@dataclass(frozen=True)
class Metadata:
    """What the last layer sets on each object: commonMetadata, then the origin labels."""

    common_labels: dict[str, str]
    annotations: dict[str, str]
    origin: dict[str, str]

    @classmethod
    def of(cls, hr: Any) -> Metadata:
        common = hr.spec.common_metadata
        origin = {
            "helm.toolkit.fluxcd.io/name": hr.metadata.name,
            "helm.toolkit.fluxcd.io/namespace": hr.metadata.namespace,
        }
        return cls(dict(common.labels) if common else {}, dict(common.annotations) if common else {}, origin)


class PostRenderer:
    """One release's post-render, served to helm while entered (``with renderer: helm ...``)."""

    def __init__(self, hr: Any, folder: Path, flags: list[str], *, kubectl: str, namespace: str | None):
        self.hr, self.folder, self.flags = hr, folder, flags
        self._kubectl, self._namespace = kubectl, namespace
        self._metadata = Metadata.of(hr)
        self._in_process = namespace is None and not any(r.kustomize for r in hr.spec.post_renderers)
        self._error = ""
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PostRenderer:
        self._stopping, self._error = False, ""
        self._thread = threading.Thread(target=self._serve, name="helm-post-render", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving: wake the thread wherever it blocks (opening either pipe) until it ends; then
        let a launcher that helm left behind (killed mid-render) fail instead of waiting forever."""
        self._stopping = True
        while self._thread is not None and self._thread.is_alive():
            _poke(self.folder / "in", os.O_WRONLY)
            _poke(self.folder / "out", os.O_RDONLY)
            self._thread.join(_POKE_SECONDS)
        _poke(self.folder / "in", os.O_RDONLY)
        _poke(self.folder / "out", os.O_WRONLY)

    def error(self) -> str:
        """Why the last render failed, as kustomize said it of the innermost failing layer
        (``postRenderers[1]: error in remove for path ...``); empty when it did not fail."""
        text = self._error.strip().removeprefix("error: ")
        layers = list(_LAYER.finditer(text))
        if not layers:
            return text
        layer = layers[-1][1]
        where = f"postRenderers[{layer.rpartition('-')[2]}]" if layer.startswith("postRenderers-") else layer
        return f"{where}: {text[layers[-1].end() :]}"

    def _serve(self) -> None:
        """Each render: helm's manifests in, ``ok`` and the result (or ``failed``) out."""
        while True:
            with open(self.folder / "in", "rb") as pipe:
                manifests = pipe.read()
            if self._stopping and not manifests:
                return  # woken by __exit__
            try:
                answer = b"ok\n" + self.render(manifests.decode())
            except subprocess.CalledProcessError as err:
                self._error = err.stderr.decode(errors="replace")
                answer = b"failed\n"
            except Exception as err:  # helm must get an answer, or it waits for ever
                self._error = f"post-render failed: {err}"
                answer = b"failed\n"
            with contextlib.suppress(BrokenPipeError), open(self.folder / "out", "wb") as pipe:
                pipe.write(answer)  # a broken pipe: helm gave up on this render

    def render(self, manifests: str) -> bytes:
        """Post-render helm's ``manifests``: in process when that is exact, else by kustomize."""
        if self._in_process:
            meta = self._metadata
            stamped = stamp(manifests, {**meta.common_labels, **meta.origin}, meta.annotations)
            if stamped is not None:
                return stamped.encode()
        chain = _write_chain(self.hr, self.folder / "chain", self._metadata, namespace=self._namespace)
        (chain / _INPUT / f"{_INPUT}.yaml").write_text(manifests)
        done = subprocess.run(
            [self._kubectl, "kustomize", "--", str(chain / _LAST)], capture_output=True, check=True
        )
        return done.stdout


def _poke(pipe: Path, flags: int) -> None:
    """Open and close the other end of ``pipe``, releasing whoever waits to open this end."""
    with contextlib.suppress(OSError):  # ENXIO: nobody waits on it now; gone: the CLI was closed
        os.close(os.open(pipe, flags | os.O_NONBLOCK))


def post_renderers_digest(hr: Any) -> str:
    """Flux's ``observedPostRenderersDigest``: a change triggers an upgrade."""
    data = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in hr.spec.post_renderers]
    common = hr.spec.common_metadata
    data.append(common.model_dump(mode="json", by_alias=True) if common else {})
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _transformers(meta: Metadata) -> list[dict[str, Any]]:
    """commonMetadata's labels and annotations, then the origin labels: builtin transformers on each
    object's own metadata only (not pod templates or selectors), as helm-controller's."""
    wanted = [
        ("LabelTransformer", "labels", meta.common_labels),
        ("AnnotationsTransformer", "annotations", meta.annotations),
        ("LabelTransformer", "labels", meta.origin),
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


def _write_chain(hr: Any, root: Path, meta: Metadata, *, namespace: str | None) -> Path:
    """The kustomization chain under ``root`` (replaced): helm's output, each post-renderer, metadata."""
    shutil.rmtree(root, ignore_errors=True)  # an earlier render's chain
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
    transformers = _transformers(meta)
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


def _shared_file(path: Path, text: str, mode: int) -> None:
    """``text`` at ``path`` in a folder this user's processes share: kept when it holds exactly that,
    else written under a unique name and renamed into place, so no process runs a half-written one."""
    with contextlib.suppress(OSError):
        if path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == mode:
            return
    staging = path.with_name(f".{uuid.uuid4().hex}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), mode)  # not narrowed by the umask
        out.write(text)
    os.replace(staging, path)


def _install_launcher(cli: HelmCli) -> str:
    """The launcher (wrapped in a plugin for Helm 4) in the user's shared plugins folder; what
    ``--post-renderer`` names."""
    folder = cli.plugins_dir / PLUGIN_NAME
    folder.mkdir(mode=0o700, exist_ok=True)
    launcher = folder / "launch.sh"
    _shared_file(launcher, LAUNCHER, 0o700)
    if cli.major_version < 4:
        return str(launcher)
    manifest = {
        "apiVersion": "v1", "type": "postrenderer/v1", "name": PLUGIN_NAME, "version": "0.1.0",
        "runtime": "subprocess", "runtimeConfig": {"platformCommand": [{"command": str(launcher)}]},
    }  # fmt: skip
    _shared_file(folder / "plugin.yaml", json.dumps(manifest), 0o600)
    return PLUGIN_NAME


def install_post_renderer(hr: Any, cli: HelmCli, *, kubectl: str, namespace: str | None) -> PostRenderer:
    """The pipes in the CLI's private folder and the shared launcher; the renderer with helm's flags."""
    folder = cli.work_dir
    for pipe in ("in", "out"):
        if not (folder / pipe).exists():  # an earlier action of this reconcile made them
            os.mkfifo(folder / pipe, 0o600)
    flags = ["--post-renderer", _install_launcher(cli), "--post-renderer-args", str(folder)]
    return PostRenderer(hr, folder, flags, kubectl=kubectl, namespace=namespace)
