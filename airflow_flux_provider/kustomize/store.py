"""Rendered manifests on disk, addressed by the ``sha256:<hex>`` digest of their bytes.

A render index maps the digest of a build's inputs (source digest, spec layers, variables,
kustomize version) to the render it produced, so the same inputs never run kustomize twice.
This is a small local store; it keeps the same put/get-by-digest contract as the source
artifact store so the two can be merged.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow_flux_provider.kustomize.errors import KustomizeError


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Rendered:
    """One render: where its YAML is, how many objects of which kinds, and how it was made."""

    digest: str
    path: str
    objects: int
    kinds: dict[str, int] = field(default_factory=dict)
    kustomize_version: str = ""
    cached: bool = False

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    def read(self) -> str:
        return Path(self.path).read_text(encoding="utf-8")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class RenderStore:
    """``<root>/sha256/<hex>.yaml`` for renders, ``<root>/index/<input hex>.json`` for the cache."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if (
            algorithm != "sha256"
            or len(hexdigest) != 64
            or not all(c in "0123456789abcdef" for c in hexdigest)
        ):
            raise KustomizeError(f"{digest!r} is not a sha256:<64 hex> digest", field="digest")
        return self.root / "sha256" / f"{hexdigest}.yaml"

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        target = self.path(digest)
        if not target.exists():
            _atomic_write(target, data)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise KustomizeError(f"no rendered artifact {digest} in {self.root}", field="digest") from None

    def lookup(self, key: str) -> Rendered | None:
        """The render recorded for input digest ``key``, if its artifact is still there."""
        entry = self.root / "index" / f"{key}.json"
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        rendered = Rendered(**{**data, "cached": True})
        return rendered if Path(rendered.path).is_file() else None

    def record(self, key: str, rendered: Rendered) -> None:
        payload = {**rendered.to_xcom(), "cached": False}
        _atomic_write(self.root / "index" / f"{key}.json", json.dumps(payload, sort_keys=True).encode())
