"""Build an OCI image (one layer, one config) from files in memory and push it under several tags."""

from __future__ import annotations

import gzip
import hashlib
import io
import platform
import tarfile
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
EPOCH = 0


class Registry(Protocol):
    def push_image(
        self, repo: str, tag: str, *, config: dict[str, Any] | None = None, layers: list[bytes] | None = None
    ) -> str: ...


@dataclass(frozen=True)
class ImageSpec:
    """``files`` maps paths in the image (``app/serve.py``) to their bytes; ``*.py`` files are executable."""

    files: dict[str, bytes]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = "/"
    exposed_ports: tuple[int, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def program(cls, module: str, **kwargs: Any) -> ImageSpec:
        """An image running ``programs/<module>.py`` as ``/app/<module>.py`` with ``python3``."""
        source = resources.files("flux_devkit.images.programs").joinpath(f"{module}.py").read_bytes()
        return cls(
            {f"app/{module}.py": source},
            ("python3", f"/app/{module}.py"),
            working_dir="/app",
            **kwargs,
        )


def _tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    folders = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(files[name]), EPOCH
            info.mode = 0o755 if name.endswith((".py", ".sh")) else 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


def build_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """``(tar+gzip blob, diff id)``: the diff id is the digest of the uncompressed tar, as OCI wants."""
    tar = _tar(files)
    return gzip.compress(tar, mtime=EPOCH), "sha256:" + hashlib.sha256(tar).hexdigest()


def image_config(spec: ImageSpec, diff_id: str) -> dict[str, Any]:
    section: dict[str, Any] = {
        "Entrypoint": list(spec.entrypoint),
        "Env": [f"{k}={v}" for k, v in {"PATH": "/usr/local/bin:/usr/bin:/bin", **spec.env}.items()],
        "WorkingDir": spec.working_dir,
    }
    if spec.cmd:
        section["Cmd"] = list(spec.cmd)
    if spec.exposed_ports:
        section["ExposedPorts"] = {f"{port}/tcp": {} for port in spec.exposed_ports}
    if spec.labels:
        section["Labels"] = dict(spec.labels)
    machine = platform.machine()
    return {
        "architecture": _ARCH.get(machine, machine),
        "os": "linux",
        "config": section,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "flux_devkit.images", "comment": "program layer"}],
    }


def push_image(registry: Registry, repository: str, tags: list[str], spec: ImageSpec) -> str:
    """Push ``spec`` under every tag; returns the manifest digest (the same for all of them)."""
    layer, diff_id = build_layer(spec.files)
    config = image_config(spec, diff_id)
    digests = {registry.push_image(repository, tag, config=config, layers=[layer]) for tag in tags}
    if len(digests) != 1:
        raise ValueError(f"{repository}: the tags {tags} got different digests {sorted(digests)}")
    return digests.pop()
