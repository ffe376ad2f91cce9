"""Rendered manifests on disk, addressed by the ``sha256:<hex>`` digest of their bytes.

A render index maps the digest of a build's inputs (source digest, spec layers, variables,
kustomize version) to the render it produced, so the same inputs never run kustomize twice.
This is a small local store (the cache of the worker that rendered); :meth:`RenderStore.share`
also puts a render into the shared artifact store, and a render task's XCom carries that
``url``, so a reconcile on another machine reads the same bytes (:meth:`RenderStore.text`).

A render holding SOPS-decrypted Secrets is *sealed*: written encrypted by the store's
:class:`Sealer` (the operators use Airflow's Fernet key) as ``<hex>.yaml.sealed``, and read
back only through the store. Plaintext Secrets never rest on disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from airflow_flux_provider.kustomize.errors import KustomizeError

if TYPE_CHECKING:
    from airflow_flux_provider.sources.artifacts import ArtifactStore


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


class Sealer(Protocol):
    """Encrypts renders at rest (Airflow's Fernet has this shape)."""

    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, token: bytes) -> bytes: ...


@dataclass(frozen=True)
class Rendered:
    """One render: where its YAML is (``path`` on the rendering worker, ``url`` in the shared
    artifact store), how many objects of which kinds, and how it was made."""

    digest: str
    path: str
    objects: int
    kinds: dict[str, int] = field(default_factory=dict)
    kustomize_version: str = ""
    cached: bool = False
    sealed: bool = False
    url: str = ""

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    def read(self) -> str:
        """The YAML of an unsealed render (a sealed one opens only through its store)."""
        if self.sealed:
            raise KustomizeError(
                f"render {self.digest} holds decrypted Secrets and is sealed; read it with RenderStore.text"
            )
        return Path(self.path).read_text(encoding="utf-8")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class RenderStore:
    """``<root>/sha256/<hex>.yaml`` for renders, ``<root>/index/<input hex>.json`` for the cache."""

    def __init__(self, root: Path | str, *, sealer: Sealer | None = None) -> None:
        self.root = Path(root)
        self.sealer = sealer

    def path(self, digest: str, *, sealed: bool = False) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if (
            algorithm != "sha256"
            or len(hexdigest) != 64
            or not all(c in "0123456789abcdef" for c in hexdigest)
        ):
            raise KustomizeError(f"{digest!r} is not a sha256:<64 hex> digest", field="digest")
        return self.root / "sha256" / (f"{hexdigest}.yaml.sealed" if sealed else f"{hexdigest}.yaml")

    def put(self, data: bytes, *, sealed: bool = False) -> str:
        digest = digest_of(data)
        target = self.path(digest, sealed=sealed)
        if not target.exists():
            _atomic_write(target, self._sealer().encrypt(data) if sealed else data)
        return digest

    def text(self, rendered: Rendered, shared: ArtifactStore | None = None) -> str:
        """The YAML of ``rendered``, unsealed in memory when it is sealed: from its file, or, when
        another machine rendered it, from ``shared`` (the artifact store its ``url`` is in)."""
        path = Path(rendered.path)
        if path.is_file():
            data = path.read_bytes()
        elif shared is not None and rendered.url:
            data = shared.get_url(rendered.url)
        else:
            raise KustomizeError(
                f"render {rendered.digest} is not on this worker ({path}) and is in no shared store; "
                "set [flux] artifacts_url to a store every worker reaches (s3://…) and render again",
                field="rendered",
            )
        return (self._sealer().decrypt(data) if rendered.sealed else data).decode("utf-8")

    def share(self, rendered: Rendered, shared: ArtifactStore, *, source: str) -> Rendered:
        """``rendered`` with the ``url`` of its bytes (sealed as stored) in ``shared``."""
        if rendered.url.startswith(f"{shared.base_url}/sha256/"):
            return rendered
        suffix = ".yaml.sealed" if rendered.sealed else ".yaml"
        data = Path(rendered.path).read_bytes()
        artifact = shared.put_bytes(
            data, source=source, revision=rendered.digest, suffix=suffix, history=False
        )
        return dataclasses.replace(rendered, url=artifact.url)

    def _sealer(self) -> Sealer:
        if self.sealer is None:
            raise KustomizeError(
                "this render holds decrypted Secrets and the render store has no key to seal them; "
                "give the store a sealer (the operators use Airflow's [core] fernet_key)"
            )
        return self.sealer

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
