"""ImageRepository scanning: list an image's tags through the OCI registry client.

What image-reflector-controller does for a scan: the image name normalised as Docker does
(:class:`~airflow_flux_provider.oci.reference.ImageReference`), its tags listed by
:class:`~airflow_flux_provider.oci.client.RegistryClient` (auth challenges, pagination, bounded
reads), then the tags matched by ``exclusionList`` dropped (Flux's default drops cosign
``.sig`` tags). Registry errors are restated as :class:`ImageError` by type.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.oci.client import RegistryClient
from airflow_flux_provider.oci.errors import RegistryError
from airflow_flux_provider.oci.reference import ImageReference
from airflow_flux_provider.patterns import regex
from airflow_flux_provider.specs.images import ImageRepository

DEFAULT_EXCLUSIONS = (r"^.*\.sig$",)


def image_error(err: RegistryError) -> ImageError:
    """A registry error restated in the images family (same object, field and message)."""
    return ImageError(err.message, obj=err.obj, field=err.field)


def tag_digest(
    image: str,
    tag: str,
    *,
    credentials: Credentials = ANONYMOUS,
    insecure: bool = False,
    timeout: float = 30.0,
    obj: str = "ImagePolicy",
) -> str:
    """The manifest digest ``image:tag`` points at now (``digestReflectionPolicy``)."""
    try:
        ref = ImageReference.parse(image, obj=obj, field="spec.image").at(tag)
        with RegistryClient(credentials, insecure=insecure, timeout=timeout, obj=obj) as client:
            return client.resolve(ref)
    except RegistryError as err:
        raise image_error(err) from None


@dataclass(frozen=True)
class ScanResult:
    """One scan: the canonical image and its tags after ``exclusionList``."""

    image: str
    canonical: str
    tags: list[str]

    def to_bytes(self) -> bytes:
        """The stored tag-list artifact: sorted JSON, so equal scans have equal digests."""
        return json.dumps({"image": self.canonical, "tags": sorted(self.tags)}, indent=0).encode()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, image: str = "") -> ScanResult:
        body = json.loads(data)
        return cls(image or body["image"], body["image"], list(body["tags"]))


def exclude(
    tags: list[str], patterns: list[str] | tuple[str, ...], *, obj: str = "ImageRepository"
) -> list[str]:
    """Drop tags any ``exclusionList`` regex matches (anywhere in the tag, as Go's MatchString)."""
    compiled = [
        regex(p, obj=obj, field=f"spec.exclusionList[{i}]", error=ImageError) for i, p in enumerate(patterns)
    ]
    return [t for t in tags if not any(r.search(t) for r in compiled)]


def scan(
    image: str,
    *,
    credentials: Credentials = ANONYMOUS,
    insecure: bool = False,
    timeout: float = 30.0,
    exclusion_list: list[str] | tuple[str, ...] = DEFAULT_EXCLUSIONS,
    obj: str = "ImageRepository",
) -> ScanResult:
    """Scan ``image`` as an ImageRepository would (see :meth:`RegistryClient.list_tags`)."""
    try:
        ref = ImageReference.parse(image, obj=obj, field="spec.image")
        if ref.tag or ref.digest:
            raise ImageError(
                f"image {image!r} must be a repository without tag or digest (e.g. ghcr.io/org/app)",
                obj=obj,
                field="spec.image",
            )
        with RegistryClient(credentials, insecure=insecure, timeout=timeout, obj=obj) as client:
            tags = client.list_tags(ref)
    except RegistryError as err:
        raise image_error(err) from None
    return ScanResult(image, ref.name, exclude(tags, exclusion_list, obj=obj))


def scan_repository(repository: ImageRepository, credentials: Credentials = ANONYMOUS) -> ScanResult:
    """Scan as the ImageRepository says (insecure, timeout, exclusionList); obj errors name it."""
    spec = repository.spec
    return scan(
        spec.image,
        credentials=credentials,
        insecure=spec.insecure or credentials.insecure,
        timeout=spec.timeout.total_seconds() or 30.0,
        exclusion_list=spec.exclusion_list,
        obj=repository.ref,
    )
