"""Images pulled by digest as a kubelet pulls them, unpacked once into a content-addressed cache.

``pull`` resolves the reference to a manifest digest (a tag is asked for; a digest is
used as written), picks this machine's platform from an image index, reads the config
and every layer through the provider's registry client (bounded, digest-checked) and
unpacks the layers with the provider's archive extraction (entry names checked as text,
no link created, caps on entries and bytes) before they are merged in order, OCI
whiteouts applied. The result lives under ``<cache>/sha256/<manifest hex>`` and is never
written again: each container starts from a copy (its writable layer).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import platform
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.oci.client import OCI_INDEX, Descriptor, RegistryBlame, RegistryClient
from airflow_flux_provider.oci.reference import ImageReference
from airflow_flux_provider.sources import archive
from flux_devkit.sandbox.kubelet.settings import WorkloadSettings
from flux_devkit.sandbox.status import SandboxError

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
}
MAX_CONFIG = 1 << 20
MAX_LAYER = 512 << 20
MAX_UNPACKED = 2 << 30
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ImagePullError(SandboxError):
    """The image cannot be pulled or unpacked; the message is what the Pod's status shows."""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config a container starts from."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str = ""

    @classmethod
    def parse(cls, data: Any, image: str) -> ImageConfig:
        section = data.get("config") if isinstance(data, dict) else None
        section = section or {}
        if not isinstance(section, dict):
            raise ImagePullError(f"image {image}: its config's 'config' is not an object")

        def strings(key: str) -> tuple[str, ...]:
            value = section.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ImagePullError(f"image {image}: config.{key} is not a list of strings")
            return tuple(value)

        env = tuple(tuple(item.split("=", 1)) for item in strings("Env") if "=" in item)
        working_dir = section.get("WorkingDir") or ""
        if not isinstance(working_dir, str):
            raise ImagePullError(f"image {image}: config.WorkingDir is not a string")
        return cls(strings("Entrypoint"), strings("Cmd"), env, working_dir)  # type: ignore[arg-type]

    def as_json(self) -> dict[str, Any]:
        return {
            "Entrypoint": list(self.entrypoint),
            "Cmd": list(self.cmd),
            "Env": [f"{k}={v}" for k, v in self.env],
            "WorkingDir": self.working_dir,
        }


@dataclass(frozen=True)
class PulledImage:
    """``image_id`` is what the Pod status reports (``registry/repository@sha256:…``)."""

    image_id: str
    rootfs: Path
    config: ImageConfig


def docker_config_auths(config: Any) -> dict[str, Credentials]:
    """Registry host -> credentials from a Docker ``config.json`` / ``.dockerconfigjson`` document."""
    auths = config.get("auths") if isinstance(config, dict) else None
    found: dict[str, Credentials] = {}
    for host, entry in (auths or {}).items():
        if not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if entry.get("auth"):
            try:
                username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, TypeError):
                continue
        if isinstance(username, str) and isinstance(password, str):
            found[str(host).removeprefix("https://").removeprefix("http://").rstrip("/")] = Credentials(
                username=username, password=password
            )
    return found


class ImageStore:
    """Pulls and caches images; one pull per manifest digest at a time, shared by every Pod."""

    def __init__(self, root: Path, settings: WorkloadSettings) -> None:
        self.root = root
        self.settings = settings
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._tags: dict[str, str] = {}  # reference -> manifest digest, for IfNotPresent
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        self._node_auths: dict[str, Credentials] = {}
        if settings.registry_config is not None:
            try:
                self._node_auths = docker_config_auths(json.loads(settings.registry_config.read_text()))
            except (OSError, ValueError) as err:
                raise SandboxError(
                    f"cannot read the registry config {settings.registry_config}: {err}; "
                    "give a Docker config.json with an 'auths' map",
                    obj="sandbox/kubelet",
                ) from None

    def cached(self, image: str) -> PulledImage | None:
        digest = self._tags.get(image)
        return self._load(image, digest) if digest else None

    def pull(self, image: str, *, always: bool, pull_auths: dict[str, Credentials]) -> PulledImage:
        """The image, pulled unless cached (``always``: the tag is resolved again, as pull policy Always)."""
        if not always and (hit := self.cached(image)) is not None:
            return hit
        ref = ImageReference.parse(image, error=ImagePullError)
        credentials = pull_auths.get(ref.registry) or self._node_auths.get(ref.registry) or ANONYMOUS
        try:
            with RegistryClient(
                credentials,
                insecure=self.settings.plain_http(ref.registry),
                obj=f"image {image}",
                blame=RegistryBlame("image", "image", "imagePullSecrets", "image"),
            ) as client:
                digest = client.resolve(ref)
                with self._lock_for(digest):
                    pulled = self._load(image, digest) or self._fetch(client, ref, image, digest)
        except FluxError as err:
            raise ImagePullError(f'failed to pull image "{image}": {err.message}') from None
        self._tags[image] = digest
        return pulled

    def _lock_for(self, digest: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(digest, threading.Lock())

    def _folder(self, digest: str) -> Path:
        return self.root / "sha256" / digest.removeprefix("sha256:")

    def _load(self, image: str, digest: str) -> PulledImage | None:
        folder = self._folder(digest)
        try:
            meta = json.loads((folder / "image.json").read_text())
        except (OSError, ValueError):
            return None
        return PulledImage(meta["imageID"], folder / "rootfs", ImageConfig.parse(meta, image))

    def _fetch(self, client: RegistryClient, ref: ImageReference, image: str, digest: str) -> PulledImage:
        manifest, digest = client.manifest(ref.at(digest))
        if manifest.get("mediaType") in (OCI_INDEX, DOCKER_LIST) or "manifests" in manifest:
            platform_digest = _platform_manifest(manifest, image)
            manifest, _ = client.manifest(ref.at(platform_digest))
        config_desc = Descriptor.parse(manifest.get("config"))
        layers = [Descriptor.parse(layer) for layer in manifest.get("layers") or []]
        if config_desc is None or any(layer is None for layer in layers):
            raise ImagePullError(f"image {image}: the manifest's config or layers are not descriptors")
        try:
            config = ImageConfig.parse(json.loads(client.blob(ref, config_desc, limit=MAX_CONFIG)), image)
        except ValueError:
            raise ImagePullError(f"image {image}: its config is not JSON") from None
        final = self._folder(digest)
        staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=self.root))
        try:
            rootfs = staging / "rootfs"
            rootfs.mkdir()
            limits = archive.Limits(max_bytes=MAX_UNPACKED)
            for index, layer in enumerate(layers):
                assert layer is not None
                if layer.media_type not in LAYER_TYPES:
                    raise ImagePullError(
                        f"image {image}: layer {index} has media type {layer.media_type!r}; "
                        "the sandbox unpacks tar and tar+gzip layers only"
                    )
                unpacked = staging / f"layer-{index}"
                archive.unpack(
                    client.blob(ref, layer, limit=MAX_LAYER),
                    unpacked,
                    limit=MAX_UNPACKED,
                    obj=f"image {image} layer {layer.digest}",
                    limits=limits,
                )
                _merge_layer(unpacked, rootfs)
                shutil.rmtree(unpacked)
            meta = {"imageID": f"{ref.name}@{digest}", "config": config.as_json()}
            (staging / "image.json").write_text(json.dumps(meta))
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return PulledImage(f"{ref.name}@{digest}", final / "rootfs", config)


def _platform_manifest(index: dict[str, Any], image: str) -> str:
    """The digest of this machine's ``linux/<arch>`` manifest in an image index."""
    arch = _ARCH.get(platform.machine(), platform.machine())
    offered = []
    for entry in index.get("manifests") or []:
        wanted = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(wanted, dict):
            continue
        offered.append(f"{wanted.get('os')}/{wanted.get('architecture')}")
        descriptor = Descriptor.parse(entry)
        if descriptor and wanted.get("os") == "linux" and wanted.get("architecture") == arch:
            return descriptor.digest
    raise ImagePullError(
        f"image {image} has no linux/{arch} manifest (it offers {', '.join(offered) or 'none'})"
    )


def _merge_layer(layer: Path, rootfs: Path) -> None:
    """Lay ``layer`` over ``rootfs``: whiteouts delete, an opaque marker empties its folder, files win.

    Neither tree holds a link (the extraction never creates one), so paths mean what they say.
    """
    for folder, dirs, files in os.walk(layer):
        relative = Path(folder).relative_to(layer)
        target = rootfs / relative
        if target.exists() and not target.is_dir():
            target.unlink()
        target.mkdir(exist_ok=True)
        if OPAQUE in files:
            for child in target.iterdir():
                _remove(child)
        for name in files:
            if name == OPAQUE:
                continue
            if name.startswith(WHITEOUT):
                hidden = name.removeprefix(WHITEOUT)
                if hidden not in ("", ".", ".."):  # a whiteout hides an entry of its own folder, no more
                    _remove(target / hidden)
                continue
            if (target / name).is_dir():
                shutil.rmtree(target / name)
            os.replace(Path(folder) / name, target / name)
        for name in dirs:
            if (target / name).exists() and not (target / name).is_dir():
                (target / name).unlink()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
