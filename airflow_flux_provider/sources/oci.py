"""OCIRepository sources: pull one layer of an OCI artifact (``flux push artifact``) into the store.

Reference precedence is Flux's: ``digest`` > ``semver`` (tags pre-filtered by
``semverFilter``) > ``tag`` (default ``latest``). The revision is ``<tag>@sha256:<manifest
digest>`` (``sha256:<hex>`` for a digest ref), resolved with one HEAD request, so an
unchanged artifact is detected without downloading a layer. Registry calls (auth
challenges, TLS, pagination) go through :class:`~airflow_flux_provider.images.registry.RegistryClient`.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.registry import ImageName, RegistryClient
from airflow_flux_provider.patterns import regex
from airflow_flux_provider.semver import SemverError, latest
from airflow_flux_provider.sources.artifacts import ArtifactStore, unpack
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, RevisionNotFoundError, SourceError
from airflow_flux_provider.sources.fetched import Fetched
from airflow_flux_provider.sources.ignore import IgnoreRules

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def registry_error(err: ImageError, obj: str, fields: str) -> SourceError:
    """A registry client error restated for a source object (404 = the ref is not there)."""
    kind = RevisionNotFoundError if "(404)" in err.message else SourceError
    message = err.message.replace("check spec.image", f"check {fields}")
    message = message.replace(
        "check the credentials in secretRef", "check the connection named by spec.secretRef"
    )
    return kind(message.removeprefix(f"{obj}: "), obj=obj, field=fields.split(" and ")[0])


def repository_name(path: str, obj: str) -> ImageName:
    """``host[:port]/repo/path`` (an oci:// URL without its scheme) as a registry repository."""
    try:
        return ImageName.parse(path, obj=obj)
    except ImageError:
        raise SourceError(
            f"oci://{path} is not a valid repository (lowercase path after the registry host)",
            obj=obj,
            field="spec.url",
        ) from None


@dataclass(frozen=True)
class OCIRef:
    """``spec.ref``: which artifact to pull."""

    digest: str | None = None
    semver: str | None = None
    semver_filter: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Resolved:
    """A reference resolved against the registry: what to fetch and the Flux revision."""

    reference: str  # tag or digest to request the manifest by
    revision: str


class OCISource:
    """One OCIRepository; ``obj`` is ``OCIRepository/namespace/name``."""

    def __init__(
        self,
        url: str,
        *,
        obj: str,
        ref: OCIRef | None = None,
        media_type: str | None = None,
        operation: str = "extract",
        ignore: str | None = None,
        insecure: bool = False,
        credentials: Credentials = ANONYMOUS,
        timeout: float = 60.0,
    ) -> None:
        if not url.startswith("oci://"):
            raise SourceError(
                f"url {url!r} must be an oci:// URL, e.g. oci://ghcr.io/org/manifests",
                obj=obj,
                field="spec.url",
            )
        if operation not in ("extract", "copy"):
            raise SourceError(
                f"operation {operation!r} is not extract or copy",
                obj=obj,
                field="spec.layerSelector.operation",
            )
        self.url = url
        self.obj = obj
        self.name = repository_name(url.removeprefix("oci://"), obj)
        self.ref = ref or OCIRef(tag="latest")
        if self.ref.digest and not _DIGEST.fullmatch(self.ref.digest):
            raise SourceError(
                f"digest {self.ref.digest!r} must be sha256:<64 hex>", obj=obj, field="spec.ref.digest"
            )
        self.media_type = media_type
        self.operation = operation
        self.ignore = ignore
        self.insecure = insecure or credentials.insecure
        self.credentials = credentials
        self.timeout = timeout

    @classmethod
    def from_spec(cls, repo: Any, credentials: Credentials = ANONYMOUS) -> OCISource:
        """Build from a typed :class:`airflow_flux_provider.specs.OCIRepository`."""
        spec = repo.spec
        layer = spec.layer_selector
        return cls(
            spec.url,
            obj=f"OCIRepository/{repo.metadata.namespace or 'default'}/{repo.metadata.name}",
            ref=OCIRef(spec.ref.digest, spec.ref.semver, spec.ref.semver_filter, spec.ref.tag),
            media_type=layer.media_type if layer else None,
            operation=layer.operation if layer else "extract",
            ignore=spec.ignore,
            insecure=spec.insecure,
            credentials=credentials,
            timeout=spec.timeout.total_seconds(),
        )

    def _client(self) -> RegistryClient:
        return RegistryClient(self.credentials, insecure=self.insecure, timeout=self.timeout, obj=self.obj)

    def _get(self, client: RegistryClient, path: str, what: str, method: str = "GET") -> Any:
        """One registry call; a 404 becomes :class:`RevisionNotFoundError`, the rest a SourceError."""
        try:
            return client._get(urljoin(client.base_url(self.name), path), self.name, what=what, method=method)
        except ImageError as err:
            raise registry_error(err, self.obj, "spec.url and spec.ref") from None

    # -- resolving --------------------------------------------------------------------------

    def _tag(self, client: RegistryClient) -> str:
        ref = self.ref
        if not ref.semver:
            return ref.tag or "latest"
        try:
            tags = client.list_tags(self.name)
        except ImageError as err:
            raise registry_error(err, self.obj, "spec.url") from None
        if ref.semver_filter:
            keep = regex(ref.semver_filter, obj=self.obj, field="spec.ref.semverFilter", error=SourceError)
            tags = [t for t in tags if keep.search(t)]
        try:
            chosen = latest(tags, ref.semver, flux_tags=True)
        except SemverError as err:
            raise SourceError(err.message, obj=self.obj, field="spec.ref.semver") from None
        if chosen is None:
            raise RevisionNotFoundError(
                f"no tag of {self.name} matches semver {ref.semver!r} among {len(tags)} tags; "
                "push a matching tag or widen spec.ref.semver",
                obj=self.obj,
                field="spec.ref.semver",
            )
        return chosen

    def resolve(self) -> Resolved:
        """Resolve ``spec.ref`` to a manifest digest with tag listing and one HEAD, no download."""
        with self._client() as client:
            return self._resolve(client)

    def _resolve(self, client: RegistryClient) -> Resolved:
        if self.ref.digest:
            self._get(client, f"manifests/{self.ref.digest}", f"manifest {self.ref.digest}", "HEAD")
            return Resolved(self.ref.digest, self.ref.digest)
        tag = self._tag(client)
        response = self._get(client, f"manifests/{tag}", f"manifest of tag {tag}", "HEAD")
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            body = self._get(client, f"manifests/{tag}", f"manifest of tag {tag}").content
            digest = f"sha256:{hashlib.sha256(body).hexdigest()}"
        return Resolved(digest, f"{tag}@{digest}")

    # -- pulling ----------------------------------------------------------------------------

    def _layer(self, manifest: dict[str, Any]) -> dict[str, Any]:
        layers = manifest.get("layers") or []
        if self.media_type:
            layers = [layer for layer in layers if layer.get("mediaType") == self.media_type]
        if not layers:
            wanted = f" of media type {self.media_type!r}" if self.media_type else ""
            raise SourceError(
                f"the artifact has no layer{wanted}; check spec.layerSelector.mediaType",
                obj=self.obj,
                field="spec.layerSelector",
            )
        return dict(layers[0])

    def _download(self, client: RegistryClient, resolved: Resolved, limit: int) -> bytes:
        """The selected layer's bytes, checked against its digest and ``limit``."""
        body = self._get(client, f"manifests/{resolved.reference}", "manifest").content
        try:
            manifest = json.loads(body)
        except ValueError:
            raise SourceError("the registry answered a manifest that is not JSON", obj=self.obj) from None
        if manifest.get("mediaType") not in (None, OCI_MANIFEST, DOCKER_MANIFEST):
            raise SourceError(
                f"{self.url} points at a {manifest.get('mediaType')}, not an artifact manifest; "
                "reference a single artifact",
                obj=self.obj,
                field="spec.ref",
            )
        layer = self._layer(manifest)
        if int(layer.get("size", 0)) > limit:
            raise ArtifactTooLargeError(
                f"the layer has {layer.get('size')} bytes, over the store limit of {limit}", obj=self.obj
            )
        data: bytes = self._get(client, f"blobs/{layer['digest']}", f"layer {layer['digest']}").content
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != layer["digest"]:
            raise SourceError(
                f"layer {layer['digest']} arrived with a different digest; the registry content is corrupt",
                obj=self.obj,
            )
        return data

    def pull(self, limit: int) -> tuple[Resolved, bytes]:
        """Resolve the ref and download the selected layer (for callers that store it themselves)."""
        with self._client() as client:
            resolved = self._resolve(client)
            return resolved, self._download(client, resolved, limit)

    def fetch(self, store: ArtifactStore) -> Fetched:
        """Store the selected layer (extracted, or as is for ``copy``) unless the revision is known."""
        with self._client() as client:
            resolved = self._resolve(client)
            last = store.latest(self.obj)
            if last is not None and last.revision == resolved.revision:
                return Fetched(last, changed=False)
            data = self._download(client, resolved, store.max_size)
        if self.operation == "copy":
            return Fetched(
                store.put_bytes(data, source=self.obj, revision=resolved.revision, suffix=".tar.gz"), True
            )
        if not data.startswith(b"\x1f\x8b"):
            raise SourceError(
                "the selected layer is not a tar+gzip archive; select another layer with "
                "layerSelector.mediaType, or store it as is with layerSelector.operation: copy",
                obj=self.obj,
                field="spec.layerSelector",
            )
        with tempfile.TemporaryDirectory(prefix="flux-oci-") as tmp:
            root = Path(tmp) / "content"
            root.mkdir()
            unpack(data, root, limit=store.max_extracted, obj=self.obj)
            rules = IgnoreRules.for_tree(root, self.ignore)
            artifact = store.put_directory(root, source=self.obj, revision=resolved.revision, ignore=rules)
        return Fetched(artifact, changed=True)
