"""OCIRepository sources: pull one layer of an OCI artifact (``flux push artifact``) into the store.

Reference precedence is Flux's: ``digest`` > ``semver`` (tags pre-filtered by
``semverFilter``) > ``tag`` (default ``latest``). The revision is ``<tag>@sha256:<manifest
digest>`` (``sha256:<hex>`` for a digest ref), resolved with one HEAD request, so an
unchanged artifact is detected without downloading a layer. Registry calls go through
:class:`~airflow_flux_provider.oci.client.RegistryClient` (auth challenges, TLS, pagination,
layers streamed with the store's size limit enforced while they arrive).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.oci.client import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Descriptor,
    RegistryBlame,
    RegistryClient,
)
from airflow_flux_provider.oci.errors import RegistryError, RegistryNotFoundError, RegistryTooLargeError
from airflow_flux_provider.oci.reference import ImageReference
from airflow_flux_provider.patterns import regex
from airflow_flux_provider.semver import SemverError, latest
from airflow_flux_provider.sources.artifacts import ArtifactStore, unpack
from airflow_flux_provider.sources.errors import ArtifactTooLargeError, RevisionNotFoundError, SourceError
from airflow_flux_provider.sources.fetched import Fetched
from airflow_flux_provider.sources.ignore import IgnoreRules

_BLAME = RegistryBlame(repository="spec.url", reference="spec.ref")


def source_error(err: RegistryError) -> SourceError:
    """A registry error restated for a source: not found is a missing revision, too large too large."""
    kind: type[SourceError] = SourceError
    if isinstance(err, RegistryNotFoundError):
        kind = RevisionNotFoundError
    elif isinstance(err, RegistryTooLargeError):
        kind = ArtifactTooLargeError
    return kind(err.message, obj=err.obj, field=err.field)


@contextlib.contextmanager
def registry(
    credentials: Credentials, *, insecure: bool, timeout: float, obj: str, blame: RegistryBlame = _BLAME
) -> Iterator[RegistryClient]:
    """A registry client whose errors arrive as :class:`SourceError` (see :func:`source_error`)."""
    try:
        with RegistryClient(credentials, insecure=insecure, timeout=timeout, obj=obj, blame=blame) as client:
            yield client
    except RegistryError as err:
        raise source_error(err) from None


def oci_repository(url: str, obj: str, field: str = "spec.url") -> ImageReference:
    """``oci://host[:port]/repo/path`` as a registry repository (no tag or digest in the URL)."""
    if not url.startswith("oci://"):
        raise SourceError(
            f"url {url!r} must be an oci:// URL, e.g. oci://ghcr.io/org/manifests", obj=obj, field=field
        )
    ref = ImageReference.parse(
        url.removeprefix("oci://"), obj=obj, field=field, error=SourceError, what="url", scheme="oci://"
    )
    if ref.tag or ref.digest:
        raise SourceError(
            f"url {url!r} must name a repository; put the tag or digest in spec.ref", obj=obj, field=field
        )
    return ref


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
        if operation not in ("extract", "copy"):
            raise SourceError(
                f"operation {operation!r} is not extract or copy",
                obj=obj,
                field="spec.layerSelector.operation",
            )
        self.url = url
        self.obj = obj
        self.name = oci_repository(url, obj)
        self.ref = ref or OCIRef(tag="latest")
        if self.ref.digest:
            digest = ImageReference.parse(
                f"{self.name.name}@{self.ref.digest}", obj=obj, field="spec.ref.digest", error=SourceError
            ).digest
            if not str(digest).startswith("sha256:"):
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

    def _registry(self) -> contextlib.AbstractContextManager[RegistryClient]:
        return registry(self.credentials, insecure=self.insecure, timeout=self.timeout, obj=self.obj)

    # -- resolving --------------------------------------------------------------------------

    def _tag(self, client: RegistryClient) -> str:
        ref = self.ref
        if not ref.semver:
            return ref.tag or "latest"
        tags = client.list_tags(self.name)
        if ref.semver_filter:
            keep = regex(ref.semver_filter, obj=self.obj, field="spec.ref.semverFilter", error=SourceError)
            tags = [t for t in tags if keep.search(t)]
        try:
            chosen = latest(tags, ref.semver, flux_tags=True)
        except SemverError as err:
            raise SourceError(err.message, obj=self.obj, field="spec.ref.semver") from None
        if chosen is None:
            raise RevisionNotFoundError(
                f"no tag of {self.name.name} matches semver {ref.semver!r} among {len(tags)} tags; "
                "push a matching tag or widen spec.ref.semver",
                obj=self.obj,
                field="spec.ref.semver",
            )
        return chosen

    def resolve(self) -> Resolved:
        """Resolve ``spec.ref`` to a manifest digest with tag listing and one HEAD, no download."""
        with self._registry() as client:
            return self._resolve(client)

    def _resolve(self, client: RegistryClient) -> Resolved:
        if self.ref.digest:
            digest = client.resolve(self.name.at(self.ref.digest))
            return Resolved(digest, digest)
        tag = self._tag(client)
        digest = client.resolve(self.name.at(tag))
        return Resolved(digest, f"{tag}@{digest}")

    # -- pulling ----------------------------------------------------------------------------

    def _layer(self, manifest: dict[str, Any]) -> Descriptor:
        listed = manifest.get("layers")
        layers = [d for d in map(Descriptor.parse, listed if isinstance(listed, list) else []) if d]
        if self.media_type:
            layers = [layer for layer in layers if layer.media_type == self.media_type]
        if not layers:
            wanted = f" of media type {self.media_type!r}" if self.media_type else ""
            raise SourceError(
                f"the artifact has no layer{wanted}; check spec.layerSelector.mediaType",
                obj=self.obj,
                field="spec.layerSelector",
            )
        return layers[0]

    def _download(self, client: RegistryClient, resolved: Resolved, limit: int) -> bytes:
        """The selected layer's bytes, streamed with ``limit`` enforced and checked against its digest."""
        manifest, _ = client.manifest(self.name.at(resolved.reference))
        if manifest.get("mediaType") not in (None, OCI_MANIFEST, DOCKER_MANIFEST):
            raise SourceError(
                f"{self.url} points at a {manifest.get('mediaType')}, not an artifact manifest; "
                "reference a single artifact",
                obj=self.obj,
                field="spec.ref",
            )
        layer = self._layer(manifest)
        if layer.size > limit:
            raise ArtifactTooLargeError(
                f"the layer has {layer.size} bytes, over the store limit of {limit}", obj=self.obj
            )
        return client.blob(self.name, layer, limit=limit)

    def pull(self, limit: int) -> tuple[Resolved, bytes]:
        """Resolve the ref and download the selected layer (for callers that store it themselves)."""
        with self._registry() as client:
            resolved = self._resolve(client)
            return resolved, self._download(client, resolved, limit)

    def fetch(self, store: ArtifactStore) -> Fetched:
        """Store the selected layer (extracted, or as is for ``copy``) unless the revision is known."""
        with self._registry() as client:
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
