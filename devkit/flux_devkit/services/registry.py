"""A real OCI registry (Debian's ``docker-registry``, CNCF distribution 2.8) plus a push client.

The client speaks the registry HTTP API directly, the way ``crane``/``flux push
artifact`` do, so tests can create images and Flux OCI artifacts without a container
engine. Blobs go up in two steps (POST opens an upload, PUT with ``?digest=`` closes
it): distribution 2.8 ignores the single-request monolithic upload.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import secrets
import shutil
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
import yaml

from flux_devkit.services.process import LOOPBACK, ServiceError, ServiceProcess, free_ports

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_CONFIG_TYPES = {
    OCI_MANIFEST: "application/vnd.oci.image.config.v1+json",
    DOCKER_MANIFEST: "application/vnd.docker.container.image.v1+json",
}
_LAYER_TYPES = {
    OCI_MANIFEST: "application/vnd.oci.image.layer.v1.tar+gzip",
    DOCKER_MANIFEST: "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_CONTENT = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def targz(files: dict[str, bytes]) -> bytes:
    """A reproducible tar+gzip of ``files`` (fixed mtime/owner, sorted), as Flux artifacts are."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class OciRegistry:
    """A running ``docker-registry`` on a loopback port; anonymous when ``username`` is None."""

    def __init__(self, workdir: Path, username: str | None, password: str | None) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise ServiceError(
                "the docker-registry binary is missing; run `apt-get install docker-registry`",
                obj="service/registry",
            )
        self.username = username
        self.password = password
        (port,) = free_ports(1)
        self.host = f"{LOOPBACK}:{port}"
        self.url = f"http://{self.host}"
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "fields": {"service": "registry"}},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        workdir.mkdir(parents=True, exist_ok=True)
        if username is not None:
            config["auth"] = {"htpasswd": {"realm": "flux-registry", "path": str(workdir / "htpasswd")}}
            _write_htpasswd(workdir / "htpasswd", username, password or "")
        config_path = workdir / "config.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.process = ServiceProcess(
            "registry", [binary, "serve", str(config_path)], workdir / "registry.log"
        )
        self.log_path = self.process.log_path
        self.process.wait_http(f"{self.url}/v2/", ready=(200, 401), timeout=30)
        self.session = requests.Session()
        if username is not None:
            self.session.auth = (username, password or "")

    def _call(
        self, method: str, url: str, what: str, expected: tuple[int, ...], **kwargs: Any
    ) -> requests.Response:
        """One registry API call; a transport failure or an unexpected status becomes a ServiceError."""
        try:
            response = self.session.request(method, url, timeout=30, **kwargs)
        except requests.RequestException as err:
            raise ServiceError(
                f"{what} failed: {type(err).__name__}; is the registry still running?",
                obj=f"service/registry {self.host}",
            ) from None
        if response.status_code not in expected:
            raise ServiceError(
                f"{what} answered {response.status_code}: {response.text[:300]}",
                obj=f"service/registry {self.host}",
            )
        return response

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload one blob (POST then PUT) unless the registry has it already; return its digest."""
        digest = sha256_digest(data)
        base = f"{self.url}/v2/{repo}/blobs"
        if self._call("HEAD", f"{base}/{digest}", f"look up blob in {repo}", (200, 404)).status_code == 200:
            return digest
        opened = self._call("POST", f"{base}/uploads/", f"open upload in {repo}", (202,))
        location = urljoin(self.url, opened.headers["Location"])
        sep = "&" if "?" in location else "?"
        self._call(
            "PUT",
            f"{location}{sep}digest={digest}",
            f"upload blob to {repo}",
            (201,),
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return digest

    def push_manifest(self, repo: str, reference: str, manifest: dict[str, Any]) -> str:
        """PUT a manifest under a tag (or digest); return the manifest's digest."""
        body = json.dumps(manifest, separators=(",", ":")).encode()
        response = self._call(
            "PUT",
            f"{self.url}/v2/{repo}/manifests/{reference}",
            f"put manifest {repo}:{reference}",
            (201,),
            data=body,
            headers={"Content-Type": manifest["mediaType"]},
        )
        digest = sha256_digest(body)
        if response.headers.get("Docker-Content-Digest", digest) != digest:
            raise ServiceError(
                f"registry stored {repo}:{reference} under another digest", obj="service/registry"
            )
        return digest

    def _push(
        self,
        repo: str,
        tag: str,
        *,
        media_type: str,
        config: tuple[bytes, str],
        layers: list[tuple[bytes, str]],
        annotations: dict[str, str] | None = None,
    ) -> str:
        def descriptor(data: bytes, kind: str) -> dict[str, Any]:
            return {"mediaType": kind, "digest": self.push_blob(repo, data), "size": len(data)}

        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": descriptor(*config),
            "layers": [descriptor(*layer) for layer in layers],
        }
        if annotations:
            manifest["annotations"] = annotations
        return self.push_manifest(repo, tag, manifest)

    def push_image(
        self,
        repo: str,
        tag: str,
        *,
        config: dict[str, Any] | None = None,
        layers: list[bytes] | None = None,
        media_type: str = OCI_MANIFEST,
    ) -> str:
        """Push a container image manifest (OCI or Docker v2); return its digest.

        ``layers`` are the (already tar+gzip) layer blobs; by default one small layer whose
        content names the tag, so every tag gets its own digest.
        """
        if media_type not in _CONFIG_TYPES:
            raise ServiceError(
                f"unsupported media_type {media_type!r}; use {OCI_MANIFEST} or {DOCKER_MANIFEST}",
                obj=f"image {repo}:{tag}",
            )
        image_config = config or {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}
        blobs = layers if layers is not None else [targz({"tag": tag.encode()})]
        return self._push(
            repo,
            tag,
            media_type=media_type,
            config=(json.dumps(image_config).encode(), _CONFIG_TYPES[media_type]),
            layers=[(blob, _LAYER_TYPES[media_type]) for blob in blobs],
        )

    def push_artifact(
        self,
        repo: str,
        tag: str,
        files: dict[str, bytes],
        artifact_type: str = FLUX_CONFIG,
        *,
        layer_type: str = FLUX_CONTENT,
        annotations: dict[str, str] | None = None,
    ) -> str:
        """Push files as an OCI artifact the way ``flux push artifact`` does (one tar+gzip layer)."""
        return self._push(
            repo,
            tag,
            media_type=OCI_MANIFEST,
            config=(b"{}", artifact_type),
            layers=[(targz(files), layer_type)],
            annotations=annotations,
        )

    def push_chart(self, repo: str, chart_tgz: Path) -> str:
        """Push a packaged Helm chart the way ``helm push`` does; the tag is the chart version.

        The chart lands at ``oci://<host>/<repo>/<chart name>``, as with ``helm push … oci://<host>/<repo>``.
        """
        chart = _chart_metadata(chart_tgz)
        return self._push(
            f"{repo}/{chart['name']}",
            str(chart["version"]),
            media_type=OCI_MANIFEST,
            config=(json.dumps(chart).encode(), HELM_CONFIG),
            layers=[(chart_tgz.read_bytes(), HELM_CHART_CONTENT)],
        )

    def tags(self, repo: str) -> list[str]:
        response = self._call("GET", f"{self.url}/v2/{repo}/tags/list", f"list tags of {repo}", (200,))
        return list(response.json().get("tags") or [])

    def info(self) -> dict[str, str]:
        """Endpoint first, then credentials: what a client (or the demo's connections) needs."""
        return {"host": self.host, "username": self.username or "", "password": self.password or ""}

    def stop(self) -> None:
        self.session.close()
        self.process.stop()


def _chart_metadata(chart_tgz: Path) -> dict[str, Any]:
    """``Chart.yaml`` of a packaged chart (``<name>/Chart.yaml`` inside the archive)."""
    try:
        with tarfile.open(chart_tgz, "r:gz") as archive:
            member = next(
                m for m in archive.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")
            )
            extracted = archive.extractfile(member)
            metadata = yaml.safe_load(extracted.read()) if extracted else None
    except (OSError, tarfile.TarError, StopIteration, yaml.YAMLError) as err:
        raise ServiceError(
            f"not a packaged Helm chart ({type(err).__name__}); create it with `helm package`",
            obj=str(chart_tgz),
        ) from None
    if not isinstance(metadata, dict) or not metadata.get("name") or not metadata.get("version"):
        raise ServiceError("Chart.yaml needs name and version", obj=str(chart_tgz))
    return metadata


def _write_htpasswd(path: Path, username: str, password: str) -> None:
    import bcrypt  # dev dependency: only the test/demo registry needs it

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    path.write_text(f"{username}:{hashed}\n")


def start_registry(
    workdir: Path, *, username: str | None = "flux", password: str | None = "flux-secret"
) -> OciRegistry:
    """Start a registry storing under ``workdir``; ``username=None`` makes it anonymous."""
    return OciRegistry(workdir, username, password)
